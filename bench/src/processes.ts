import { execFile, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import {
  startCommand,
  startServiceProcess,
  type CommandRun,
  type ServiceProcess,
  type ServiceProcessOptions,
} from "@polyrpc/testing";
import { measureUsage, type ServerUsage } from "./proc-stats.js";

/** Cores a process may run on: `taskset -c` syntax ("0", "1", "0,1"), or undefined for all. */
export type Cpus = string | undefined;

/**
 * A server process under test: the testing package's `ServiceProcess` (its `output()` reads the
 * log file; `stop` SIGKILLs after 10 s by default), with the pid that pinning and CPU
 * measurement need and the log file's path.
 */
export interface ServerProcess extends ServiceProcess {
  pid: number;
  /** The file its stdout and stderr go to. */
  logFile: string;
}

/**
 * How to start a server: the testing package's options (`portOf` from its `loggedPort` or
 * `listeningPort`), and where its output goes. Logs go to a file, as a deployment ships them, not
 * through a pipe the harness must drain and hold: a server under load logs every call.
 */
export interface StartOptions extends ServiceProcessOptions {
  logFile: string;
}

/** Every process the harness started and that may still run. */
const running = new Set<ChildProcess>();

/** SIGKILLs every process still running (on an abort). */
export function killAll(): void {
  for (const child of running) child.kill("SIGKILL");
}

/**
 * Starts a server with its output in `options.logFile` (the testing package's
 * `startServiceProcess`) and resolves once the log gives its port; 60 s to start by default, and
 * 10 s from SIGTERM to SIGKILL.
 */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const server = await startServiceProcess({ timeoutMs: 60_000, ...options });
  const { child } = server;
  running.add(child);
  void server.exited.then(
    () => running.delete(child),
    () => running.delete(child),
  );
  return {
    ...server,
    pid: child.pid!,
    logFile: options.logFile,
    stop: (signal = "SIGTERM", graceMs = 10_000) => server.stop(signal, graceMs),
  };
}

/** Runs `taskset` so every thread of `pid` (and the threads it starts later) runs on `cpus`. */
export async function pin(pid: number, cpus: Cpus): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    execFile("taskset", ["-a", "-p", "-c", cpus ?? allCpus(), String(pid)], (err) => (err ? reject(err) : resolve())),
  );
}

/** Every core of this machine, `taskset -c` style. */
export function allCpus(): string {
  const n = availableParallelism();
  return n > 1 ? `0-${n - 1}` : "0";
}

/** `command args` prefixed with `taskset -c cpus` when `cpus` is set. */
export function pinned(cpus: Cpus, command: string, args: readonly string[]): [string, string[]] {
  return cpus === undefined ? [command, [...args]] : ["taskset", ["-c", cpus, command, ...args]];
}

/** How a load generator run ended: its exit, what it printed, and what it used itself. */
export interface LoadGeneratorRun extends CommandRun {
  usage: ServerUsage;
}

/**
 * Runs a load generator to the end, recording its own CPU and peak RSS. The usage is read every
 * 200 ms and kept from the last read before it exits: once reaped, /proc forgets it.
 */
export async function runLoadGenerator(command: string, args: readonly string[]): Promise<LoadGeneratorRun> {
  const session = startCommand(command, args);
  session.end(); // it reads no input: its stdin is at end of file at once
  const measured = measureUsage([session.child.pid!]);
  let usage: ServerUsage = { cpuCores: NaN, peakRssMiB: NaN };
  const sampler = setInterval(() => {
    try {
      usage = measured.stop();
    } catch {
      // already gone
    }
  }, 200);
  try {
    return { ...(await session.finished), usage };
  } finally {
    clearInterval(sampler);
  }
}
