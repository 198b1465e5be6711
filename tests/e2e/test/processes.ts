import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import {
  loggedPort,
  packageBin as workspaceBin,
  startCommand,
  startServiceProcess,
  type CommandSession,
  type Exit,
  type ServiceProcess,
} from "@polyrpc/testing";

export type { Exit, ServiceProcess };

/**
 * A workspace package's bin, resolved from here. The devDependencies on the apps exist so that
 * pnpm links them here and turbo orders them; the tests run the services' declared bins as
 * processes and never import their code. The client is also a library: the replica tests drive
 * load through it.
 */
const packageBin = (name: string, bin: string) => workspaceBin(name, bin, import.meta.url);

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
    args: ["--conditions=polyrpc-source", "--import", "tsx", entry.path],
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
export interface CliSession extends Omit<CommandSession, "finished"> {
  /** Resolves when it has exited and its pipes are drained. */
  finished: Promise<CliRun>;
}

/** Starts apps/client's `polyrpc` CLI as a process with `args`, its stdin open. */
export function startCli(target: string, args: readonly string[], options: CliOptions = {}): CliSession {
  const { dir, path } = packageBin("@polyrpc/client", "polyrpc");
  const session = startCommand(process.execPath, ["--conditions=polyrpc-source", "--import", "tsx", path, ...args], {
    cwd: dir,
    env: { POLYRPC_TARGET: target, ...options.env },
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  track(session.child);
  return { ...session, finished: session.finished.then((run) => ({ ...run, json: () => jsonLines(run.stdout) })) };
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
