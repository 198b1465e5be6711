import { spawn, type ChildProcess } from "node:child_process";

/** How a command ended and everything it printed. */
export interface CommandRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command running with its stdin open (an interactive CLI, `openssl s_client`). */
export interface CommandSession {
  child: ChildProcess;
  /** Writes to its stdin. */
  write(text: string): void;
  /** Closes its stdin. */
  end(): void;
  /** What it printed to stdout so far. */
  stdout(): string;
  /** Resolves once stdout matches `pattern`; rejects after `waitMs` or when it exits first. */
  waitFor(pattern: string | RegExp, waitMs?: number): Promise<void>;
  /** Resolves when it has exited and its pipes are drained. */
  finished: Promise<CommandRun>;
}

export interface CommandOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** SIGKILLs the command after this long; no limit when omitted. */
  timeoutMs?: number;
}

/** Starts `command` with its stdin, stdout and stderr piped. */
export function startCommand(command: string, args: readonly string[], options: CommandOptions = {}): CommandSession {
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  // Writing to a command that already exited fails with EPIPE; its exit status tells the story.
  child.stdin!.on("error", () => {});
  let stdout = "";
  let stderr = "";
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  // 'close' comes once the process has exited and its pipes are drained.
  const finished = new Promise<CommandRun>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  }).finally(() => clearTimeout(timer));

  function waitFor(pattern: string | RegExp, waitMs = 10_000): Promise<void> {
    const matches = () => (typeof pattern === "string" ? stdout.includes(pattern) : pattern.test(stdout));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(giveUp);
        child.stdout!.off("data", check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (matches()) done();
      };
      const giveUp = setTimeout(
        () => done(new Error(`no ${pattern} in ${waitMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`)),
        waitMs,
      );
      // Listeners run in order: the accumulating one above comes first.
      child.stdout!.on("data", check);
      void finished.then(
        () => (matches() ? done() : done(new Error(`exited without ${pattern}:\n${stdout}${stderr}`))),
        (err: Error) => done(err),
      );
      check();
    });
  }

  return {
    child,
    write: (text) => void child.stdin!.write(text),
    end: () => void child.stdin!.end(),
    stdout: () => stdout,
    waitFor,
    finished,
  };
}
