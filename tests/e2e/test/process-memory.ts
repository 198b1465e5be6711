import { readFileSync, writeFileSync } from "node:fs";

/** A process's memory as the kernel counts it, in MiB. */
export interface ProcessMemory {
  /** Resident now (VmRSS). */
  rss: number;
  /** The most it was ever resident (VmHWM, the high-water mark). */
  peak: number;
}

/** Reads `/proc/<pid>/status`: another process's memory, which no `process.memoryUsage()` gives. */
export function memoryOf(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]) / 1024;
  return { rss: mib("VmRSS"), peak: mib("VmHWM") };
}

/** Resets a process's high-water mark (VmHWM) to its current RSS, so that `peak` covers what follows. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/**
 * Polls a process's resident memory every 250 ms until it is at most `boundMib` or `deadlineMs`
 * passed, and returns the last reading: pages freed by a collection go back to the kernel over a
 * moment, not all at once.
 */
export async function settledRss(pid: number, boundMib: number, deadlineMs: number): Promise<number> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const { rss } = memoryOf(pid);
    if (rss <= boundMib || Date.now() >= until) return rss;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
