import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, status as Status, type ChannelOptions } from "@grpc/grpc-js";
import { healthV1, UserService } from "@polyrpc/proto";
import { ConfigError, SHUTDOWN_MESSAGE } from "@polyrpc/server-kit";
import { createGrpcClient } from "@polyrpc/grpc-client";
import type { ServiceProcess } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadUserServiceConfig } from "../src/config.js";
import { callError, eventually, runUserServiceMain, startUserServiceProcess } from "./harness.js";

type LogLine = Record<string, unknown> & { msg?: string; pid?: number; role?: string };

/** Every JSON line the service (primary and workers) wrote so far. */
function logLines(service: ServiceProcess): LogLine[] {
  return service
    .output()
    .split("\n")
    .flatMap((text) => {
      try {
        return [JSON.parse(text) as LogLine];
      } catch {
        return [];
      }
    });
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A new connection: grpc-js channels share connections through a global subchannel pool, so each
 * connection gets a pool of its own. The UserService and health clients share it (the same worker).
 */
function connect(port: number) {
  const target = `127.0.0.1:${port}`;
  const users = createGrpcClient(UserService, target, {
    channelOptions: { "grpc.use_local_subchannel_pool": 1 },
  });
  const health = createGrpcClient(healthV1.Health, target, {
    channelOptions: { channelOverride: users.channel.getChannel() } as ChannelOptions,
  });
  return { users: users.methods, health: health.methods, close: () => users.close() };
}

/** Metadata whose `traceparent` gives the call's log line a trace id we know. */
function traced(): { metadata: Metadata; traceId: string } {
  const traceId = randomBytes(16).toString("hex");
  const metadata = new Metadata();
  metadata.set("traceparent", `00-${traceId}-${randomBytes(8).toString("hex")}-01`);
  return { metadata, traceId };
}

describe("WORKERS=2: a primary and two worker processes on one port", () => {
  let dir: string;
  let service: ServiceProcess;
  const connections: Array<{ close(): void }> = [];
  const seenPids = new Set<number>();

  /** The pid of the worker whose log line has this trace id (the worker that served the call). */
  async function servedBy(traceId: string): Promise<number> {
    let line: LogLine | undefined;
    await eventually(() => (line = logLines(service).find((l) => l.traceId === traceId)) !== undefined, 10_000);
    expect(line!.role).toBe("worker");
    return line!.pid!;
  }

  /** GetUser of `id` over a fresh connection; resolves with the user and the worker that served it. */
  async function getOnNewConnection(id: string) {
    const connection = connect(service.port);
    connections.push(connection);
    const { metadata, traceId } = traced();
    const user = await connection.users.getUser({ id }, { metadata, timeoutMs: 10_000 });
    const health = await connection.health.check({ service: "" }, { timeoutMs: 10_000 });
    const pid = await servedBy(traceId);
    seenPids.add(pid);
    return { user, pid, health: health.status };
  }

  async function metricsText(): Promise<string> {
    const line = logLines(service).find((l) => l.role === "primary" && l.msg === "metrics listening on /metrics");
    const response = await fetch(`http://127.0.0.1:${line!.port as number}/metrics`);
    expect(response.status).toBe(200);
    return response.text();
  }

  const getUserOk = (metrics: string) =>
    Number(
      /^grpc_server_handled_total\{[^}]*grpc_method="GetUser"[^}]*grpc_code="OK"[^}]*\} (\d+)$/m.exec(metrics)?.[1] ??
        0,
    );

  let userId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-users-cluster-"));
    service = await startUserServiceProcess(
      {
        WORKERS: "2",
        DATABASE_PATH: join(dir, "users.db"),
        METRICS_ENABLED: "true",
        METRICS_PORT: "0",
        SHUTDOWN_DRAIN_MS: "500",
        SHUTDOWN_TIMEOUT_MS: "5000",
      },
      { name: "user service (2 workers)", timeoutMs: 90_000 },
    );
  }, 120_000);

  afterAll(async () => {
    connections.splice(0).forEach((c) => c.close());
    await service?.stop("SIGKILL");
    // Workers stop by themselves once their primary is gone; make sure of it.
    for (const pid of seenPids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("migrates once before forking, and announces the port once, when both workers listen", async () => {
    // Processes write their lines independently: a worker's may come out just after the primary's.
    await eventually(() => logLines(service).filter((l) => l.msg === "worker listening").length >= 2);
    const lines = logLines(service);
    const announced = lines.filter((l) => l.msg === "gRPC server listening");
    expect(announced).toHaveLength(1);
    expect(announced[0]).toMatchObject({ role: "primary", port: service.port, workers: 2 });
    const workers = lines.filter((l) => l.msg === "worker listening");
    expect(workers.map((l) => l.port)).toEqual([service.port, service.port]);
    expect(new Set(workers.map((l) => l.pid))).toEqual(new Set(announced[0]!.pids as number[]));
    expect(workers.every((l) => l.role === "worker" && typeof l.worker === "number")).toBe(true);
    for (const pid of announced[0]!.pids as number[]) seenPids.add(pid);

    // The primary opens (and so migrates) the store itself before any worker starts.
    const opened = lines.findIndex((l) => l.msg === "user store open" && l.role === "primary");
    expect(opened).toBeGreaterThanOrEqual(0);
    const migrated = lines.findIndex((l) => l.msg === "store migrated; starting workers");
    expect(migrated).toBeGreaterThan(opened);
    expect(lines[migrated]!.role).toBe("primary");
    const firstWorkerLine = lines.findIndex((l) => l.role === "worker");
    expect(firstWorkerLine).toBeGreaterThan(migrated);
  });

  it("hands connections to both workers, which share one database and answer health", async () => {
    const creator = connect(service.port);
    connections.push(creator);
    const { metadata, traceId } = traced();
    const created = await creator.users.createUser(
      { username: "clustered", email: "clustered@example.com", password: "password" },
      { metadata },
    );
    userId = created.id;
    const createdOn = await servedBy(traceId);

    // Linux cluster mode hands new connections to the workers in turn.
    const reads = [];
    for (let i = 0; i < 8; i++) reads.push(await getOnNewConnection(userId));
    const pids = new Set(reads.map((r) => r.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(createdOn)).toBe(true);
    // Created through one worker, read through the other.
    const elsewhere = reads.filter((r) => r.pid !== createdOn);
    expect(elsewhere.length).toBeGreaterThan(0);
    for (const read of reads) {
      expect(read.user).toMatchObject({ id: userId, username: "clustered" });
      expect(read.health).toBe(healthV1.HealthCheckResponse_ServingStatus.SERVING);
    }
  });

  it("serves the metrics of all workers, summed, on the primary's METRICS_PORT", async () => {
    const before = getUserOk(await metricsText());
    const reads = [];
    for (let i = 0; i < 6; i++) reads.push(await getOnNewConnection(userId));
    expect(new Set(reads.map((r) => r.pid)).size).toBe(2);
    const after = await metricsText();
    expect(getUserOk(after) - before).toBe(6);
    expect(after).toMatch(/^user_service_worker_restarts_total 0$/m);
  });

  it("restarts a worker killed with SIGKILL, and keeps serving meanwhile", async () => {
    const pids = logLines(service).find((l) => l.msg === "gRPC server listening")!.pids as number[];
    const [killed, survivor] = pids as [number, number];
    process.kill(killed, "SIGKILL");
    await eventually(
      () => logLines(service).some((l) => l.msg === "worker exited unexpectedly: restarting it" && l.pid === killed),
      10_000,
    );
    // While it restarts, the other worker takes every connection.
    for (let i = 0; i < 2; i++) expect((await getOnNewConnection(userId)).pid).toBe(survivor);

    let restarted: LogLine | undefined;
    await eventually(
      () => (restarted = logLines(service).find((l) => l.msg === "worker restarted")) !== undefined,
      60_000,
    );
    const replacement = restarted!.pid as number;
    seenPids.add(replacement);
    expect(replacement).not.toBe(killed);
    expect(isAlive(killed)).toBe(false);
    expect(restarted).toMatchObject({ role: "primary", port: service.port });

    const reads = [];
    for (let i = 0; i < 6; i++) reads.push(await getOnNewConnection(userId));
    expect(new Set(reads.map((r) => r.pid))).toEqual(new Set([survivor, replacement]));
    expect(await metricsText()).toMatch(/^user_service_worker_restarts_total 1$/m);
  }, 90_000);

  it("on SIGTERM, has every worker drain, then exits 0 with no worker left", async () => {
    const workers = [...seenPids].filter(isAlive);
    expect(workers).toHaveLength(2);
    const connection = connect(service.port);
    connections.push(connection);
    async function* chat() {
      yield { userId: "u", text: "hello", timestamp: 0n };
      await new Promise(() => {});
    }
    const stream = connection.users.chat(chat())[Symbol.asyncIterator]();
    expect((await stream.next()).value?.text).toBe("Echo: hello");

    service.child.kill("SIGTERM");
    // The worker holding the stream drains: it ends the stream at SHUTDOWN_DRAIN_MS as a single process does.
    const ended = await callError(stream.next());
    expect(ended.code).toBe(Status.UNAVAILABLE);
    expect(ended.details).toBe(SHUTDOWN_MESSAGE);
    expect(await service.exited).toEqual({ code: 0, signal: null });
    for (const pid of workers) expect(isAlive(pid), `worker ${pid}`).toBe(false);
    const lines = logLines(service);
    expect(lines.filter((l) => l.role === "worker" && l.msg === "server stopped").map((l) => l.pid)).toEqual(
      expect.arrayContaining(workers),
    );
    expect(lines.some((l) => l.role === "primary" && l.msg === "all workers stopped" && l.exitCode === 0)).toBe(true);
  }, 60_000);
});

describe("WORKERS configuration", () => {
  it("defaults to 1 and takes an integer or auto", () => {
    expect(loadUserServiceConfig({ POLYRPC_ENV: "development" }).WORKERS).toBe(1);
    expect(loadUserServiceConfig({ POLYRPC_ENV: "development", WORKERS: "3" }).WORKERS).toBe(3);
    expect(loadUserServiceConfig({ POLYRPC_ENV: "development", WORKERS: "auto" }).WORKERS).toBe(availableParallelism());
  });

  it.each(["0", "-1", "1.5", "two", "1e3", "1025"])("refuses WORKERS=%s, naming it", (value) => {
    let error: unknown;
    try {
      loadUserServiceConfig({ POLYRPC_ENV: "development", WORKERS: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join("\n")).toMatch(
      new RegExp(`^WORKERS: must be an integer from 1 to 1024, or "auto" \\(got "${value}"\\)$`, "m"),
    );
  });

  it("refuses several workers on an in-memory database, which they could not share", () => {
    const env = { POLYRPC_ENV: "development", WORKERS: "2", DATABASE_PATH: ":memory:" };
    expect(() => loadUserServiceConfig(env)).toThrow(/WORKERS: more than one worker needs a shared store/);
    expect(loadUserServiceConfig({ ...env, DATABASE_URL: "postgres://app@db/users" }).WORKERS).toBe(2);
    expect(loadUserServiceConfig({ ...env, DATABASE_PATH: "./users.db" }).WORKERS).toBe(2);
  });

  it("stops the process with exit code 78 on a bad WORKERS, before forking anything", async () => {
    const bad = await runUserServiceMain({ WORKERS: "many", DATABASE_PATH: ":memory:" });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/WORKERS: must be an integer from 1 to 1024, or "auto" \(got "many"\)/);
    const shared = await runUserServiceMain({ WORKERS: "2", DATABASE_PATH: ":memory:" });
    expect(shared.code).toBe(78);
    expect(shared.stderr).toMatch(/WORKERS: more than one worker needs a shared store/);
  });
});
