import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import {
  loggedPort,
  packageBin as workspaceBin,
  startServiceProcess,
  type Exit,
  type ServiceProcess,
} from "@polyrpc/server-kit/testing";

export type { Exit, ServiceProcess };

/**
 * A workspace package's bin, resolved from here. The devDependencies on the apps exist so that
 * pnpm links them here and turbo orders them; the tests run the services' declared bins as
 * processes and never import their code. The client is also a library: the replica tests drive
 * load through it.
 */
const packageBin = (name: string, bin: string) => workspaceBin(name, bin, import.meta.url);

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** Every child these helpers started and that may still run, for `killAll`. */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** SIGKILLs every child process still running; for afterAll. */
export function killAll(): void {
  for (const child of children) child.kill("SIGKILL");
}

/** A user service process. */
export type UserServiceProcess = ServiceProcess;

/** A chat app process. */
export type ChatAppProcess = ServiceProcess;

/**
 * Starts a TypeScript entry point as a service process (`node --import tsx`, from its package
 * directory so that the package's own tsx resolves) and resolves once it logs `listening` with
 * the port it listens on.
 */
async function startService(
  name: string,
  entry: { dir: string; path: string },
  env: Record<string, string>,
  listening: string,
  timeoutMs: number,
): Promise<ServiceProcess> {
  const service = await startServiceProcess({
    name,
    command: process.execPath,
    args: ["--import", "tsx", entry.path],
    cwd: entry.dir,
    env,
    portOf: loggedPort(listening),
    timeoutMs,
  });
  track(service.child);
  return service;
}

/** Starts apps/user-service as a process on a free port; resolves once it listens. */
export function startUserService(env: Record<string, string>, timeoutMs = 30_000): Promise<UserServiceProcess> {
  return startService(
    "user service",
    packageBin("@polyrpc/user-service", "polyrpc-user-service"),
    {
      HOST: "127.0.0.1",
      PORT: "0",
      PASSWORD_HASH_COST: "1024",
      LOG_LEVEL: "info",
      POLYRPC_ENV: "development",
      METRICS_ENABLED: "false",
      ...env,
    },
    "gRPC server listening",
    timeoutMs,
  );
}

/**
 * Starts apps/chat as a process on a free port, over the SQLite file `DATABASE_PATH` or the
 * PostgreSQL database `DATABASE_URL`, asking the user service at `USER_SERVICE_ADDRESS` about
 * users; resolves once it listens.
 */
export function startChatApp(
  env: ({ DATABASE_PATH: string } | { DATABASE_URL: string }) & { USER_SERVICE_ADDRESS: string } & Record<
      string,
      string
    >,
  timeoutMs = 30_000,
): Promise<ChatAppProcess> {
  return startService(
    "chat app",
    packageBin("@polyrpc/chat", "polyrpc-chat"),
    { HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", POLYRPC_ENV: "development", METRICS_ENABLED: "false", ...env },
    "Connect server listening (gRPC, gRPC-Web, Connect)",
    timeoutMs,
  );
}

/** What a CLI run printed and how it exited. */
export interface CliRun extends Exit {
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (for `--json` runs). */
  json(): Array<Record<string, unknown>>;
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Options of a CLI process. */
export interface CliOptions {
  /** More environment, such as POLYRPC_CHAT_TARGET. */
  env?: Record<string, string>;
  /** SIGKILLs the process after this long (30 s by default). */
  timeoutMs?: number;
}

/** A CLI process that keeps its stdin open, for the interactive commands (`chat join`). */
export interface CliSession {
  child: ChildProcess;
  /** Writes to its stdin. */
  write(text: string): void;
  /** Closes its stdin. */
  end(): void;
  /** What it printed to stdout so far. */
  stdout(): string;
  /** Resolves once stdout matches `pattern`; rejects after `timeoutMs` or when it exits first. */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when it has exited and its pipes are drained. */
  finished: Promise<CliRun>;
}

/** Starts apps/client's `polyrpc` CLI as a process with `args`, its stdin open. */
export function startCli(target: string, args: readonly string[], options: CliOptions = {}): CliSession {
  const { dir, path } = packageBin("@polyrpc/client", "polyrpc");
  const child = track(
    spawn(process.execPath, ["--import", "tsx", path, ...args], {
      cwd: dir,
      env: { ...process.env, POLYRPC_TARGET: target, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  const exited = exitOf(child);
  // Writing to a CLI that already exited fails with EPIPE; its exit status tells the story.
  child.stdin!.on("error", () => {});
  let stdout = "";
  let stderr = "";
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = exited
    .finally(() => clearTimeout(timer))
    .then(async (exit) => {
      // 'exit' can come before the pipes are drained; wait for them to close.
      await Promise.all(
        [child.stdout, child.stderr].map((s) => (s!.closed ? undefined : new Promise((r) => s!.once("close", r)))),
      );
      return { ...exit, stdout, stderr, json: () => jsonLines(stdout) };
    });

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
      void finished.then(() =>
        matches() ? done() : done(new Error(`exited without ${pattern}:\n${stdout}${stderr}`)),
      );
      check();
    });
  }

  return {
    child,
    write: (text) => child.stdin!.write(text),
    end: () => child.stdin!.end(),
    stdout: () => stdout,
    waitFor,
    finished,
  };
}

/** Runs apps/client's `polyrpc` CLI as a process with `args`, optionally feeding `stdin`. */
export async function runCli(
  target: string,
  args: readonly string[],
  options: CliOptions & { stdin?: string } = {},
): Promise<CliRun> {
  const session = startCli(target, args, options);
  session.child.stdin!.end(options.stdin ?? "");
  return session.finished;
}
