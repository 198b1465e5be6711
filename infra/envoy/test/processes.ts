import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import {
  loggedPort,
  packageBin,
  startCommand as startCommandSession,
  startServiceProcess,
  type CommandRun,
  type CommandSession,
  type ServiceProcess,
} from "@polyrpc/testing";

const started = new Set<ChildProcess>();

/** SIGKILLs every process these helpers started that still runs; for afterAll. */
export function killAll(): void {
  for (const child of started) child.kill("SIGKILL");
}

async function startApp(name: string, pkg: string, bin: string, listening: string, env: Record<string, string>) {
  const { dir, path } = packageBin(pkg, bin, import.meta.url);
  const service = await startServiceProcess({
    name,
    command: process.execPath,
    args: ["--conditions=polyrpc-source", "--import", "tsx", path],
    cwd: dir,
    env: { HOST: "127.0.0.1", PORT: "0", POLYRPC_ENV: "development", METRICS_ENABLED: "false", ...env },
    portOf: loggedPort(listening),
  });
  started.add(service.child);
  service.child.once("exit", () => started.delete(service.child));
  return service;
}

/** A user-service replica over the SQLite file `databasePath` (replicas share it; WAL allows that); `env` adds more. */
export function startUserServiceReplica(
  databasePath: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return startApp("user service", "@polyrpc/user-service", "polyrpc-user-service", "gRPC server listening", {
    DATABASE_PATH: databasePath,
    PASSWORD_HASH_COST: "1024",
    ...env,
  });
}

/** A chat replica over `databasePath`, asking the user service at `userServiceAddress`; `env` adds more. */
export function startChatReplica(
  databasePath: string,
  userServiceAddress: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return startApp("chat", "@polyrpc/chat", "polyrpc-chat", "Connect server listening (gRPC, gRPC-Web, Connect)", {
    DATABASE_PATH: databasePath,
    USER_SERVICE_ADDRESS: userServiceAddress,
    // A first lookup opens connections through two Envoys and TLS; on a loaded CI machine that can
    // take longer than the 2 s default.
    USER_LOOKUP_TIMEOUT_MS: "10000",
    ...env,
  });
}

/** What a command printed and how it exited. */
export type Run = CommandRun;

/** A process with its stdin open (the CLI's `chat join`, `openssl s_client`). */
export type Session = CommandSession;

/** Starts a command with its stdin open; `waitFor` waits 15 s unless told otherwise. */
export function startCommand(command: string, args: readonly string[], cwd?: string): Session {
  const session = startCommandSession(command, args, { cwd });
  started.add(session.child);
  void session.finished.finally(() => started.delete(session.child)).catch(() => {});
  return { ...session, waitFor: (pattern, waitMs = 15_000) => session.waitFor(pattern, waitMs) };
}

/** Runs a command to the end with `stdin`. */
export function runCommand(command: string, args: readonly string[], stdin = ""): Promise<Run> {
  const session = startCommand(command, args);
  session.child.stdin!.end(stdin);
  return session.finished;
}

/** The polyrpc CLI as a process. */
export function startCli(args: readonly string[]): Session {
  const { dir, path } = packageBin("@polyrpc/client", "polyrpc", import.meta.url);
  return startCommand(process.execPath, ["--conditions=polyrpc-source", "--import", "tsx", path, ...args], dir);
}

/** Runs the polyrpc CLI to the end. */
export function runCli(args: readonly string[], stdin = ""): Promise<Run> {
  const session = startCli(args);
  session.child.stdin!.end(stdin);
  return session.finished;
}
