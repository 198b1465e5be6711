import { readdirSync, readFileSync, writeFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** Milliseconds on CLOCK_MONOTONIC, the clock every process on the machine shares (performance.now() is per process). */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** This process's CPU (user + system) since `since`, a process.cpuUsage() reading, over `wallMs`: 1.0 is one core busy. */
export function ownCpuCores(since: NodeJS.CpuUsage, wallMs: number): number {
  const cpu = process.cpuUsage(since);
  return (cpu.user + cpu.system) / 1000 / wallMs;
}

/** CPU seconds (user + system, all threads) a process used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Seconds the threads of `pid` spent ready to run but waiting for a core (the second field of
 * /proc/<pid>/task/<tid>/schedstat): how much more CPU the process wanted than it got.
 */
export function runnableWaitSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1e9;
}

/** Peak resident set size (VmHWM) in MiB. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Resets VmHWM to the current RSS (Linux's clear_refs 5), so the next peak is this point's. */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not permitted (another user's process): the peak then covers the process's whole life.
  }
}

/** What a server process used during one measured point. */
export interface ServerUsage {
  /** CPU seconds per wall-clock second: 1.0 is one core busy. */
  cpuCores: number;
  peakRssMiB: number;
}

/** Starts measuring `pids` (a server and its workers); `stop()` returns their summed usage. */
export function measureUsage(pids: readonly number[]): { stop(): ServerUsage } {
  for (const pid of pids) resetPeakRss(pid);
  const started = performance.now();
  const cpuBefore = pids.map(cpuSeconds);
  return {
    stop() {
      const seconds = (performance.now() - started) / 1000;
      const cpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpuBefore[i]!, 0);
      const rss = pids.reduce((sum, pid) => sum + peakRssMiB(pid), 0);
      return { cpuCores: cpu / seconds, peakRssMiB: rss };
    },
  };
}
