import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import { createGrpcClient } from "@polyrpc/grpc-client";
import { HealthClient, type ServiceProcess } from "@polyrpc/testing";
import { afterEach, describe, expect, it } from "vitest";
import { LIST_BATCH_SIZE } from "../src/user-service.js";
import type { NewUser } from "../src/user-store.js";
import {
  callError,
  eventually,
  freshDatabase,
  sleep,
  startTestService,
  startUserServiceProcess,
  type TestService,
} from "./harness.js";

function newUsers(count: number, prefix: string): NewUser[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    username: `${prefix}${i}`,
    email: `${prefix}${i}@example.com`,
    passwordHash: "scrypt$1024$8$1$c2FsdA==$a2V5",
    createdAt: 1_700_000_000 + i,
    roles: ["user"],
  }));
}

/** Statements the user service is running (or waiting on) in its database right now. */
async function runningStatements(t: TestService): Promise<number> {
  const { server, database } = t.postgres!;
  const out = await server.sql(
    `SELECT count(*) FROM pg_stat_activity
      WHERE datname = '${database}' AND application_name = 'user-service' AND state = 'active'`,
  );
  return Number(out.trim());
}

/** Starts apps/user-service as a process (src/main.ts) on a free port over `databaseUrl`. */
function startProcessOn(databaseUrl: string): Promise<ServiceProcess> {
  return startUserServiceProcess({
    DATABASE_URL: databaseUrl,
    DATABASE_CONNECT_TIMEOUT_MS: "1000",
    METRICS_ENABLED: "false",
    LOG_LEVEL: "info",
  });
}

describe("the user service on PostgreSQL under faults", () => {
  let t: TestService | undefined;
  const processes: ServiceProcess[] = [];
  const closers: Array<() => void> = [];
  afterEach(async () => {
    closers.splice(0).forEach((close) => close());
    await Promise.all(processes.splice(0).map((p) => p.stop("SIGKILL")));
    await t?.stop();
    t = undefined;
  });

  it("ends GetUser at its 100 ms deadline on a slow query and cancels the query in the database (F5)", async () => {
    t = await startTestService({ storage: "postgres" });
    const user = await t.client.createUser({ username: "slow", email: "slow@example.com", password: "password" });
    // Another session holds the table: GetUser's SELECT really waits in the database.
    const { server, database } = t.postgres!;
    const holder = server.sql(
      `BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT`,
      database,
    );
    holder.catch(() => {});
    await eventually(
      async () =>
        Number(
          (
            await server.sql(
              `SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'users'::regclass`,
              database,
            )
          ).trim(),
        ) === 1,
    );

    const started = Date.now();
    const err = await callError(t.client.getUser({ id: user.id }, { timeoutMs: 100 }));
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    // The query leaves pg_stat_activity within 1 s of the deadline, not when the lock goes.
    await eventually(async () => (await runningStatements(t!)) === 0, 1000);
    expect(Date.now() - started).toBeLessThan(100 + 1000 + 500);
    const pool = (t.store as unknown as { pool: { totalCount: number; idleCount: number } }).pool;
    await eventually(() => pool.totalCount === pool.idleCount, 1000);
    await server.sql(
      `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()`,
    );
    await holder.catch(() => {});
    expect(await t.client.getUser({ id: user.id })).toMatchObject({ username: "slow" });
  });

  it("stops ListUsers when the client cancels after the first message and gives its connection back (F6)", async () => {
    t = await startTestService({ storage: "postgres" });
    await t.store.createMany(newUsers(200 * LIST_BATCH_SIZE, "cancel"));
    for await (const user of t.client.listUsers({})) {
      expect(user.username).toBe("cancel0");
      break; // leaving the loop cancels the call
    }
    await eventually(() => t!.service.server.activeCalls.size === 0);
    const pool = (t.store as unknown as { pool: { totalCount: number; idleCount: number } }).pool;
    await eventually(() => pool.totalCount === pool.idleCount, 1000);
    await eventually(async () => (await runningStatements(t!)) === 0, 1000);
    expect(t.logs()).toMatch(/"method":"\/user.UserService\/ListUsers","code":"CANCELLED"/);
  });

  it("fails calls fast with UNAVAILABLE while the database is down, stays up, and recovers without a restart (F8)", async () => {
    const { server, url } = await freshDatabase();
    const service = await startProcessOn(url);
    processes.push(service);
    const client = createGrpcClient(UserService, service.target);
    const health = new HealthClient(service.target);
    closers.push(
      () => client.close(),
      () => health.close(),
    );
    const user = await client.methods.createUser({
      username: "durable",
      email: "durable@example.com",
      password: "password",
    });

    await server.stop();
    try {
      const outageEnds = Date.now() + 3000;
      let calls = 0;
      while (Date.now() < outageEnds) {
        const started = Date.now();
        const err = await callError(client.methods.getUser({ id: user.id }, { timeoutMs: 2000 }));
        expect(err.code).toBe(Status.UNAVAILABLE);
        expect(err.details).toBe("the database is unavailable; try again later");
        expect(Date.now() - started).toBeLessThan(2000);
        calls++;
        await sleep(200);
      }
      expect(calls).toBeGreaterThan(3);
      const write = await callError(
        client.methods.createUser(
          { username: "during", email: "during@example.com", password: "password" },
          { timeoutMs: 2000 },
        ),
      );
      expect(write.code).toBe(Status.UNAVAILABLE);
      expect(service.child.exitCode).toBeNull();
      expect(await health.check("")).toBe("SERVING");
    } finally {
      await server.start();
    }
    await eventually(async () => {
      try {
        return (await client.methods.getUser({ id: user.id }, { timeoutMs: 2000 })).username === "durable";
      } catch {
        return false;
      }
    }, 5000);
    const created = await client.methods.createUser({
      username: "after",
      email: "after@example.com",
      password: "password",
    });
    expect(created.username).toBe("after");
    expect(service.child.exitCode).toBeNull();
  });

  it("migrates once when several service processes start at the same time on one database", async () => {
    const { server, database, url } = await freshDatabase();
    const started = await Promise.allSettled([1, 2, 3, 4].map(() => startProcessOn(url)));
    for (const result of started) if (result.status === "fulfilled") processes.push(result.value);
    expect(started.map((r) => (r.status === "rejected" ? String(r.reason) : "listening"))).toEqual(
      Array(4).fill("listening"),
    );
    expect(
      (
        await server.sql(
          "SELECT string_agg(version::text, ',' ORDER BY version) FROM users_schema_migrations",
          database,
        )
      ).trim(),
    ).toBe("1");
    // They share the data: what one creates, another reads.
    const [a, b] = processes.map((p) => createGrpcClient(UserService, p.target));
    closers.push(
      () => a!.close(),
      () => b!.close(),
    );
    const user = await a!.methods.createUser({ username: "shared", email: "shared@example.com", password: "password" });
    expect(await b!.methods.getUser({ id: user.id })).toEqual(user);
    const clash = await callError(
      b!.methods.createUser({ username: "SHARED", email: "x@example.com", password: "password" }),
    );
    expect(clash.code).toBe(Status.ALREADY_EXISTS);
  });

  it("masks the password of DATABASE_URL in its logs, and prefers DATABASE_URL to DATABASE_PATH", async () => {
    const { url } = await freshDatabase();
    const withPassword = url.replace("postgres://postgres@", "postgres://postgres:hunter2@");
    const sqliteDir = mkdtempSync(join(tmpdir(), "polyrpc-unused-"));
    closers.push(() => rmSync(sqliteDir, { recursive: true, force: true }));
    const sqlitePath = join(sqliteDir, "users.db");
    t = await startTestService({ env: { DATABASE_URL: withPassword, DATABASE_PATH: sqlitePath } });
    await t.client.createUser({ username: "masked", email: "masked@example.com", password: "password" });
    expect(t.logs()).toContain('"storage":"postgres"');
    expect(t.logs()).toContain("postgres://postgres:***@127.0.0.1");
    expect(t.logs()).not.toContain("hunter2");
    expect(existsSync(sqlitePath)).toBe(false);
  });
});
