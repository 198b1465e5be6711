import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A server started as a separate process, ready once it reported its port. */
export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  /** `127.0.0.1:port` */
  target: string;
  exited: Promise<Exit>;
  /** Everything it printed so far, for assertion messages. */
  output(): string;
  /** Sends `signal` (SIGTERM by default), SIGKILLs after `graceMs`, and resolves when it is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

export interface ServiceProcessOptions {
  /** For error messages: "user service", "go server". */
  name: string;
  command: string;
  args: readonly string[];
  cwd: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Reads the port from one JSON line of stdout, or says "not this line" with undefined. */
  portOf: (line: Record<string, unknown>) => number | undefined;
  timeoutMs?: number;
  /**
   * A file that takes stdout and stderr instead of pipes, the port line then read from it: for a
   * server under load, which logs every call (the bench), so the harness neither holds nor drains
   * its output. `output()` reads the file.
   */
  logFile?: string;
}

/** `portOf` for polyrpc servers: the `port` of the pino line whose `msg` is `message`. */
export function loggedPort(message: string): ServiceProcessOptions["portOf"] {
  return (line) => (line.msg === message && typeof line.port === "number" ? line.port : undefined);
}

/** `portOf` for the docs' Go and Python servers, which print `{"listening":<port>}`. */
export const listeningPort: ServiceProcessOptions["portOf"] = (line) =>
  typeof line.listening === "number" ? line.listening : undefined;

/** The port of the first JSON line `portOf` recognises, or undefined. */
function portOfLines(lines: Iterable<string>, portOf: ServiceProcessOptions["portOf"]): number | undefined {
  for (const text of lines) {
    if (!text.startsWith("{")) continue;
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      continue; // not a JSON line (or, in a log file, one still being written)
    }
    const port = line && typeof line === "object" ? portOf(line as Record<string, unknown>) : undefined;
    if (port !== undefined) return port;
  }
  return undefined;
}

/**
 * Starts a server as a process and resolves once a JSON line of its output gives its port; fails
 * with what it printed if it cannot be started, exits first or stays silent past the timeout.
 */
export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const { name, logFile, timeoutMs = 30_000 } = options;
  const out = logFile === undefined ? "pipe" : openSync(logFile, "w");
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", out, out],
  });
  if (typeof out === "number") closeSync(out);
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`${name} did not start (${options.command}): ${err.message}`)));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => {});
  let piped = "";
  const output = logFile === undefined ? () => piped : () => readFileSync(logFile, "utf8");
  const tail = () => output().slice(-8000);
  const port = await new Promise<number>((resolve, reject) => {
    const found = (port: number | undefined) => {
      if (port === undefined) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(port);
    };
    const timer = setTimeout(() => {
      clearInterval(poll);
      child.kill("SIGKILL");
      reject(new Error(`${name} did not report its port within ${timeoutMs} ms:\n${tail()}`));
    }, timeoutMs);
    exited.then(
      (exit) => reject(new Error(`${name} exited early (${JSON.stringify(exit)}):\n${tail()}`)),
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
    let poll: NodeJS.Timeout | undefined;
    if (logFile === undefined) {
      child.stderr!.on("data", (chunk: Buffer) => (piped += chunk.toString()));
      createInterface({ input: child.stdout! }).on("line", (text) => {
        piped += `${text}\n`;
        found(portOfLines([text], options.portOf));
      });
    } else {
      poll = setInterval(() => found(portOfLines(output().split("\n"), options.portOf)), 50);
    }
  });
  return {
    child,
    port,
    target: `127.0.0.1:${port}`,
    exited,
    output,
    async stop(signal = "SIGTERM", graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(killer);
      }
    },
  };
}

/**
 * A workspace package's directory and the absolute path of one of its `bin` entries, resolved
 * from `from` (the caller's `import.meta.url`, whose package links the workspace package), for
 * running an app as a process.
 */
export function packageBin(name: string, bin: string, from: string): { dir: string; path: string } {
  const manifestPath = createRequire(from).resolve(`${name}/package.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { bin?: Record<string, string> };
  const relative = manifest.bin?.[bin];
  if (!relative) throw new Error(`${name} declares no bin "${bin}"`);
  const dir = dirname(manifestPath);
  return { dir, path: join(dir, relative) };
}
