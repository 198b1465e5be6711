import { execFile } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { seedUsers, userClient } from "./clients.js";
import { repoRoot } from "./paths.js";
import { listeningPort, loggedPort } from "@polyrpc/testing";
import { startServer, type ServerProcess, type StartOptions } from "./processes.js";
import type { Mode } from "./runner.js";

const run = promisify(execFile);

/** A UserService server ready for load, seeded. */
export interface RunningTarget {
  name: string;
  /** `127.0.0.1:port` */
  target: string;
  /** The processes whose CPU and memory count as the server's (Envoy and the app, say). */
  pids: number[];
  /** The CA when the target speaks TLS (its certificate names `localhost`). */
  caCert?: string;
  /** An existing user, for GetUser. */
  userId: string;
  /** How many users ListUsers streams, when the target was seeded for it. */
  listedUsers: number;
  stop(): Promise<void>;
}

/** What starting a target needs from the run. */
export interface TargetContext {
  workDir: string;
  /** Users to seed for ListUsers (10,000 in the issue). */
  listUsers: number;
  log(message: string): void;
}

/** A server the harness can benchmark. New targets (Envoy, a cluster mode) plug in here. */
export interface TargetDef {
  name: string;
  /** What it is, for the README tables. */
  description: string;
  /** Why it cannot run here, or undefined when it can. */
  unavailable(): string | undefined;
  /** Whether ListUsers means anything on it (the docs' servers sleep 100 ms per user). */
  streamsListUsers: boolean;
  /** The modes it is measured in; every mode when unset. Points in other modes skip it. */
  modes?: readonly Mode[];
  start(ctx: TargetContext): Promise<RunningTarget>;
}

/** Environment of a polyrpc server under load: production defaults except where load needs otherwise. */
export const polyrpcEnv: Record<string, string> = {
  HOST: "127.0.0.1",
  PORT: "0",
  // Authentication off (POLYRPC_ENV=development); every other stage of the call pipeline stays on:
  // tracing hook, Prometheus metrics, protovalidate, per-call info logs (to a file).
  POLYRPC_ENV: "development",
  LOG_LEVEL: "info",
  METRICS_ENABLED: "true",
  METRICS_PORT: "0",
  // Rate limits exist to refuse exactly this kind of load from one subject.
  RATE_LIMIT_UNARY_PER_S: "0",
  RATE_LIMIT_STREAMS_PER_S: "0",
  RATE_LIMIT_MESSAGES_PER_S: "0",
  // scrypt's cost is a security setting, not RPC overhead: the lowest allowed keeps CreateUser
  // about the RPC (the docs' servers store no password at all). The default (16384) is measured apart.
  PASSWORD_HASH_COST: "1024",
};

async function seed(ctx: TargetContext, name: string, target: string, listUsers: number): Promise<{ userId: string }> {
  const created = await userClient(target).createUser({
    username: "bench_reader",
    email: "bench_reader@example.com",
    password: "correct horse battery",
  });
  if (listUsers > 1) {
    const started = performance.now();
    await seedUsers(target, "seed_", listUsers - 1);
    ctx.log(`${name}: seeded ${listUsers} users in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return { userId: created.id };
}

async function startTarget(
  ctx: TargetContext,
  name: string,
  options: Omit<StartOptions, "name" | "logFile">,
  listUsers: number,
): Promise<RunningTarget> {
  const server: ServerProcess = await startServer({ ...options, name, logFile: join(ctx.workDir, `${name}.log`) });
  try {
    const { userId } = await seed(ctx, name, server.target, listUsers);
    return {
      name,
      target: server.target,
      pids: [server.pid],
      userId,
      listedUsers: listUsers,
      async stop() {
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** Starts polyrpc's user service as `name` (its log and database files are named after it). */
export function startPolyrpc(
  ctx: TargetContext,
  name: string,
  env: Record<string, string> = {},
): Promise<RunningTarget> {
  const dir = join(repoRoot, "apps/user-service");
  return startTarget(
    ctx,
    name,
    {
      command: process.execPath,
      args: ["--conditions=polyrpc-source", "--import", "tsx", join(dir, "src/main.ts")],
      cwd: dir,
      env: { ...polyrpcEnv, DATABASE_PATH: join(ctx.workDir, `${name}-users.db`), ...env },
      portOf: loggedPort("gRPC server listening"),
    },
    ctx.listUsers,
  );
}

/** polyrpc's user service: one Node process, SQLite in a file. */
export const polyrpcTarget: TargetDef = {
  name: "polyrpc",
  description: "apps/user-service: grpc-js, the kit's call pipeline, SQLite file (one process)",
  unavailable: () => undefined,
  streamsListUsers: true,
  start: (ctx) => startPolyrpc(ctx, "polyrpc"),
};

/** The children of `pid` running its executable: a cluster primary's workers (not tsx's esbuild helper). */
async function workerPids(pid: number): Promise<number[]> {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const { stdout } = await run("pgrep", ["-P", String(pid)]).catch(() => ({ stdout: "" }));
  return stdout
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        return readlinkSync(`/proc/${child}/exe`) === exe;
      } catch {
        return false; // gone already
      }
    });
}

/**
 * The user service with WORKERS=2 (apps/user-service/src/cluster.ts): a primary that serves no
 * calls and two workers on one port. Its CPU and memory are the three processes'. Whole-box mode
 * only: pinned to one core, as per-core points pin servers, two workers would only take turns.
 */
export const polyrpcWorkersTarget: TargetDef = {
  name: "polyrpc-workers",
  description:
    "apps/user-service with WORKERS=2: a primary and two grpc-js worker processes (node:cluster), SQLite file",
  unavailable: () => undefined,
  streamsListUsers: true,
  modes: ["whole-box"],
  async start(ctx) {
    const target = await startPolyrpc(ctx, "polyrpc-workers", { WORKERS: "2" });
    const primary = target.pids[0]!;
    const workers = await workerPids(primary);
    if (workers.length !== 2) {
      await target.stop();
      throw new Error(`polyrpc-workers: expected 2 workers under pid ${primary}, found ${workers.length}`);
    }
    return { ...target, pids: [primary, ...workers] };
  },
};

let goServer: Promise<string> | undefined;

/** Builds the docs' Go server once per run. */
function buildGoServer(workDir: string): Promise<string> {
  goServer ??= (async () => {
    const out = join(workDir, "go-server");
    await run("go", ["build", "-o", out, "./cmd/server"], { cwd: join(repoRoot, "interop/go") });
    return out;
  })();
  return goServer;
}

/** The docs' Go server (interop/go): grpc-go, a map behind a RWMutex. */
export const goTarget: TargetDef = {
  name: "go",
  description: "interop/go: the docs' Go stub on grpc-go, users in a map",
  unavailable: () => undefined,
  streamsListUsers: false,
  async start(ctx) {
    return startTarget(
      ctx,
      "go",
      {
        command: await buildGoServer(ctx.workDir),
        args: ["--port", "0"],
        cwd: join(repoRoot, "interop/go"),
        portOf: listeningPort,
      },
      1,
    );
  },
};

const python = join(repoRoot, "interop/python/.venv/bin/python");

/** The docs' Python server (interop/python): grpcio with a 10-thread pool. */
export const pythonTarget: TargetDef = {
  name: "python",
  description: "interop/python: the docs' Python stub on grpcio, ThreadPoolExecutor(max_workers=10)",
  unavailable: () => (existsSync(python) ? undefined : "interop/python/.venv is missing (run scripts/setup.sh)"),
  streamsListUsers: false,
  start(ctx) {
    const dir = join(repoRoot, "interop/python");
    return startTarget(
      ctx,
      "python",
      { command: python, args: ["server.py", "--port", "0"], cwd: dir, portOf: listeningPort },
      1,
    );
  },
};

/** The same in-memory handler on one of the kit's two runtimes (src/servers/runtime-server.ts). */
export function runtimeTarget(runtime: "grpc-js" | "connect-node"): TargetDef {
  return {
    name: runtime,
    description: `bench/src/servers/runtime-server.ts on ${runtime}: in-memory handler, the kit's call pipeline`,
    unavailable: () => undefined,
    streamsListUsers: true,
    start(ctx) {
      return startTarget(
        ctx,
        runtime,
        {
          command: process.execPath,
          args: [
            "--conditions=polyrpc-source",
            "--import",
            "tsx",
            join(repoRoot, "bench/src/servers/runtime-server.ts"),
          ],
          cwd: join(repoRoot, "bench"),
          env: { ...polyrpcEnv, RUNTIME: runtime },
          portOf: loggedPort(
            runtime === "grpc-js" ? "gRPC server listening" : "Connect server listening (gRPC, gRPC-Web, Connect)",
          ),
        },
        1,
      );
    },
  };
}
