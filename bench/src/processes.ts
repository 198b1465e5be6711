import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { startCommand, type CommandRun } from "@polyrpc/server-kit/testing";
import { measureUsage, type ServerUsage } from "./proc-stats.js";

/** Cores a process may run on: `taskset -c` syntax ("0", "1", "0,1"), or undefined for all. */
export type Cpus = string | undefined;

/** A server process under test. */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** `127.0.0.1:port` */
  target: string;
  /** The file its stdout and stderr go to. */
  logFile: string;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: readonly string[];
  cwd: string;
  env?: Record<string, string>;
  /** Where its output goes. Logs go to a file, as a deployment ships them, not through a pipe the harness must drain. */
  logFile: string;
  /** Reads the port from one JSON line of its output, or undefined for "not this line". */
  portOf: (line: Record<string, unknown>) => number | undefined;
  timeoutMs?: number;
}

/** Every process the harness started and that may still run. */
const running = new Set<ChildProcess>();

/** SIGKILLs every process still running (on an abort). */
export function killAll(): void {
  for (const child of running) child.kill("SIGKILL");
}

function portFromLog(logFile: string, portOf: StartOptions["portOf"]): number | undefined {
  for (const text of readFileSync(logFile, "utf8").split("\n")) {
    if (!text.startsWith("{")) continue;
    try {
      const port = portOf(JSON.parse(text) as Record<string, unknown>);
      if (port !== undefined) return port;
    } catch {
      // a partial line: read again on the next poll
    }
  }
  return undefined;
}

/** Starts a server and resolves once its log gives its port. */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const { name, timeoutMs = 60_000 } = options;
  const out = openSync(options.logFile, "w");
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => running.delete(child));
  const deadline = Date.now() + timeoutMs;
  let port: number | undefined;
  while ((port = portFromLog(options.logFile, options.portOf)) === undefined) {
    const log = () => readFileSync(options.logFile, "utf8").slice(-4000);
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited early:\n${log()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not report its port within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    pid: child.pid!,
    port,
    target: `127.0.0.1:${port}`,
    logFile: options.logFile,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(killer);
    },
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
