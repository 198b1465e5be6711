import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { UserService } from "@polyrpc/proto";
import { createLogger } from "@polyrpc/server-kit";
import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import {
  loggedPort,
  startServiceProcess,
  startTestPostgres,
  type ServiceProcess,
  type TestPostgres,
} from "@polyrpc/testing";
import { afterAll } from "vitest";
import { userServiceEnvSchema, type UserServiceConfig } from "../src/config.js";
import { openUserStore, startUserService, type RunningUserService } from "../src/server.js";
import type { UserStore } from "../src/user-store.js";

/** SQLite in memory, SQLite in a file, or PostgreSQL (a fresh database on a real server). */
export type StorageKind = "memory" | "disk" | "postgres";

/** Every backend the store and RPC suites run against. */
export const storageKinds: readonly StorageKind[] = ["memory", "disk", "postgres"];

let sharedPostgres: Promise<TestPostgres> | undefined;
let databases = 0;

/** One real PostgreSQL server per test file, started on first use and removed after the file. */
export function testPostgres(): Promise<TestPostgres> {
  sharedPostgres ??= startTestPostgres();
  return sharedPostgres;
}

afterAll(async () => {
  const server = sharedPostgres;
  sharedPostgres = undefined;
  await (await server?.catch(() => undefined))?.destroy();
});

/** A fresh, empty database on the file's PostgreSQL server. */
export async function freshDatabase(): Promise<{ server: TestPostgres; database: string; url: string }> {
  const server = await testPostgres();
  const database = `users_${++databases}`;
  return { server, database, url: await server.createDatabase(database) };
}

export interface TestService {
  service: RunningUserService;
  client: GrpcClient<typeof UserService>["methods"];
  grpc: GrpcClient<typeof UserService>;
  store: UserStore;
  /** With PostgreSQL storage: the server and the database this service uses. */
  postgres?: { server: TestPostgres; database: string; url: string };
  /** Every log line the service wrote, as text. */
  logs(): string;
  stop(): Promise<void>;
}

export interface TestServiceOptions {
  storage?: StorageKind;
  env?: Record<string, string>;
  /** Wraps the real store, e.g. to count or slow down calls. */
  wrapStore?: (store: UserStore) => UserStore;
}

/**
 * Starts the real user service on a free port with a real store (SQLite in memory by default, a
 * SQLite file, or a fresh PostgreSQL database), chosen from the configuration as in production.
 */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const dir = options.storage === "disk" ? mkdtempSync(join(tmpdir(), "polyrpc-users-")) : undefined;
  const postgres = options.storage === "postgres" ? await freshDatabase() : undefined;
  const config: UserServiceConfig = userServiceEnvSchema.parse({
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_PATH: dir ? join(dir, "users.db") : ":memory:",
    ...(postgres && { DATABASE_URL: postgres.url }),
    PASSWORD_HASH_COST: "1024",
    POLYRPC_ENV: "development",
    METRICS_ENABLED: "false",
    ...options.env,
  });
  let logText = "";
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  const log = createLogger({ name: "user-service", level: "debug", destination });
  const realStore = await openUserStore(config, log);
  const store = options.wrapStore ? options.wrapStore(realStore) : realStore;
  const service = await startUserService(config, { store, log });
  const grpc = createGrpcClient(UserService, service.server.address);
  return {
    service,
    client: grpc.methods,
    grpc,
    store: realStore,
    ...(postgres && { postgres }),
    logs: () => logText,
    async stop() {
      grpc.close();
      await service.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The service as a process: src/main.ts under tsx, from the package directory, as `pnpm start` runs it. */
const mainProcess = {
  command: process.execPath,
  args: ["--conditions=polyrpc-source", "--import", "tsx", "src/main.ts"],
  cwd: join(import.meta.dirname, ".."),
} as const;

/**
 * Starts the service as a process (src/main.ts) on 127.0.0.1 and a free port, in development with
 * cheap password hashes and `env` on top, and resolves once it logs "gRPC server listening".
 */
export function startUserServiceProcess(
  env: Record<string, string>,
  { name = "user service", timeoutMs = 60_000 }: { name?: string; timeoutMs?: number } = {},
): Promise<ServiceProcess> {
  return startServiceProcess({
    name,
    ...mainProcess,
    env: { HOST: "127.0.0.1", PORT: "0", PASSWORD_HASH_COST: "1024", POLYRPC_ENV: "development", ...env },
    portOf: loggedPort("gRPC server listening"),
    timeoutMs,
  });
}

/** Runs the service's main.ts with `env` until it exits; resolves with its exit code and stderr. */
export function runUserServiceMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      mainProcess.command,
      mainProcess.args,
      {
        cwd: mainProcess.cwd,
        env: { ...process.env, POLYRPC_ENV: "development", PORT: "0", METRICS_ENABLED: "false", ...env },
      },
      (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
    );
  });
}

/** A real store of the given kind, opened from the configuration as the service opens it. */
export async function openTestStore(storage: StorageKind): Promise<{
  store: UserStore;
  postgres?: { server: TestPostgres; database: string; url: string };
  close(): Promise<void>;
}> {
  const dir = storage === "disk" ? mkdtempSync(join(tmpdir(), "polyrpc-users-")) : undefined;
  const postgres = storage === "postgres" ? await freshDatabase() : undefined;
  const config = userServiceEnvSchema.parse({
    DATABASE_PATH: dir ? join(dir, "users.db") : ":memory:",
    ...(postgres && { DATABASE_URL: postgres.url }),
    POLYRPC_ENV: "development",
  });
  const store = await openUserStore(config, createLogger({ name: "user-store", level: "silent" }));
  return {
    store,
    ...(postgres && { postgres }),
    async close() {
      await store.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every stored user, oldest first, read straight from the store. */
export async function allStoredUsers(store: UserStore) {
  return store.listPage(0, 1_000_000);
}

/** The rejection of a call, so tests can assert on its code and details. */
export async function callError(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code: number; details: string };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** Collects a server stream. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns true, failing after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}
