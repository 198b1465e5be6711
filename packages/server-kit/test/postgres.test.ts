import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelledError, DeadlineExceededError, UnavailableError } from "../src/errors.js";
import {
  createPostgresPool,
  DATABASE_UNAVAILABLE_MESSAGE,
  isUniqueViolation,
  mapPostgresError,
  postgresQuery,
  postgresTransaction,
  runPostgresMigrations,
} from "../src/postgres/index.js";
import { startTestPostgres, type TestPostgres } from "@polyrpc/testing";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds; returns how long that took. */
async function within(timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a failure, but it succeeded");
}

describe("the kit's PostgreSQL module", () => {
  let server: TestPostgres;
  const pools: pg.Pool[] = [];
  let databases = 0;

  /** A pool on a fresh database, closed after the suite. */
  async function freshPool(applicationName: string, max = 4): Promise<{ pool: pg.Pool; db: string; url: string }> {
    const db = `kit_pg_${++databases}`;
    const url = await server.createDatabase(db);
    const pool = createPostgresPool({ url, applicationName, max, connectTimeoutMs: 1000 });
    pools.push(pool);
    return { pool, db, url };
  }

  /** Statements of `applicationName` that are running (or waiting) on the server right now. */
  async function activeStatements(applicationName: string): Promise<number> {
    const out = await server.sql(
      `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${applicationName}' AND state = 'active'`,
    );
    return Number(out.trim());
  }

  beforeAll(async () => {
    server = await startTestPostgres();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
    await server?.destroy();
  });

  describe("runPostgresMigrations", () => {
    const migrations = [
      "CREATE TABLE applied (version int NOT NULL)",
      "INSERT INTO applied VALUES (2); CREATE TABLE things (id int PRIMARY KEY)",
      "INSERT INTO applied VALUES (3)",
    ];

    it("applies each version once when several replicas start at the same time", async () => {
      const { url, db } = await freshPool("migrations-setup", 1);
      const replicas = Array.from({ length: 6 }, () => createPostgresPool({ url, applicationName: "replica", max: 2 }));
      pools.push(...replicas);
      const versions = await Promise.all(
        replicas.map((pool) => runPostgresMigrations(pool, { name: "kit", migrations })),
      );
      expect(versions).toEqual([3, 3, 3, 3, 3, 3]);
      expect((await server.sql("SELECT version FROM applied ORDER BY version", db)).trim().split("\n")).toEqual([
        "2",
        "3",
      ]);
      expect((await server.sql("SELECT version FROM kit_schema_migrations ORDER BY version", db)).trim()).toBe(
        "1\n2\n3",
      );
    });

    it("applies only the versions a database has not seen, and keeps schemas of different names apart", async () => {
      const { pool, db } = await freshPool("migrations-grow", 2);
      expect(await runPostgresMigrations(pool, { name: "kit", migrations: migrations.slice(0, 2) })).toBe(2);
      expect(await runPostgresMigrations(pool, { name: "kit", migrations })).toBe(3);
      expect(await runPostgresMigrations(pool, { name: "kit", migrations })).toBe(3);
      expect(
        await runPostgresMigrations(pool, { name: "other", migrations: ["CREATE TABLE other_things (n int)"] }),
      ).toBe(1);
      expect((await server.sql("SELECT count(*) FROM applied", db)).trim()).toBe("2");
      expect((await server.sql("SELECT max(version) FROM other_schema_migrations", db)).trim()).toBe("1");
    });

    it("rolls back a failing version, records nothing for it and names it", async () => {
      const { pool, db } = await freshPool("migrations-fail", 2);
      const err = await failure(
        runPostgresMigrations(pool, {
          name: "kit",
          migrations: ["CREATE TABLE ok (n int)", "CREATE TABLE ok (n int)"],
        }),
      );
      expect(err.message).toMatch(/^kit migration 2 failed: relation "ok" already exists/);
      expect((await server.sql("SELECT max(version) FROM kit_schema_migrations", db)).trim()).toBe("1");
      // The lock went with the failed run: the next run is not blocked.
      expect(await runPostgresMigrations(pool, { name: "kit", migrations: ["CREATE TABLE ok (n int)"] })).toBe(1);
    });
  });

  describe("mapPostgresError", () => {
    it("maps a refused connection to UnavailableError with a message that names no host", async () => {
      const pool = createPostgresPool({ url: "postgres://nobody:secret@127.0.0.1:1/none", applicationName: "refused" });
      pools.push(pool);
      const err = await failure(postgresQuery(pool, {}, "SELECT 1"));
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.message).toBe(DATABASE_UNAVAILABLE_MESSAGE);
      expect((err.cause as { code?: string }).code).toBe("ECONNREFUSED");
    });

    it("maps a terminated backend (57P01) to UnavailableError and leaves unique violations to the caller", async () => {
      const { pool } = await freshPool("terminated");
      const client = await pool.connect();
      client.on("error", () => {}); // the termination also arrives as an event once the query has failed
      const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const sleeping = failure(client.query("SELECT pg_sleep(30)"));
      await sleep(100);
      await server.sql(`SELECT pg_terminate_backend(${pid})`);
      const err = await sleeping;
      client.release(true);
      expect(mapPostgresError(err)).toBeInstanceOf(UnavailableError);

      await postgresQuery(pool, {}, "CREATE TABLE uniq (name text UNIQUE)");
      await postgresQuery(pool, {}, "INSERT INTO uniq VALUES ('a')");
      const duplicate = await failure(postgresQuery(pool, {}, "INSERT INTO uniq VALUES ('a')"));
      expect(isUniqueViolation(duplicate)).toBe(true);
      expect(mapPostgresError(duplicate)).toBe(duplicate);
    });
  });

  describe("postgresQuery and postgresTransaction within a call", () => {
    it("turns the remaining time into a statement timeout: DeadlineExceededError, and the statement is gone (F5)", async () => {
      const { pool } = await freshPool("deadline");
      const err = await failure(postgresQuery(pool, { deadline: new Date(Date.now() + 150) }, "SELECT pg_sleep(30)"));
      expect(err).toBeInstanceOf(DeadlineExceededError);
      await within(1000, async () => (await activeStatements("deadline")) === 0);
      // The pool is whole: nothing checked out, and the next call works.
      await within(1000, async () => pool.totalCount === pool.idleCount);
      expect((await postgresQuery<{ n: number }>(pool, {}, "SELECT 1 AS n")).rows[0]!.n).toBe(1);
    });

    it("cancels the running statement on the server when the call is cancelled (CancelledError)", async () => {
      const { pool } = await freshPool("cancelled");
      const controller = new AbortController();
      const running = postgresQuery(pool, { signal: controller.signal }, "SELECT pg_sleep(30)");
      await within(2000, async () => (await activeStatements("cancelled")) === 1);
      controller.abort();
      const err = await failure(running);
      expect(err).toBeInstanceOf(CancelledError);
      await within(1000, async () => (await activeStatements("cancelled")) === 0);
      await within(1000, async () => pool.totalCount === pool.idleCount);
    });

    it("fails at once, touching nothing, when the call already ended", async () => {
      const { pool } = await freshPool("ended");
      const controller = new AbortController();
      controller.abort();
      expect(await failure(postgresQuery(pool, { signal: controller.signal }, "SELECT 1"))).toBeInstanceOf(
        CancelledError,
      );
      expect(await failure(postgresQuery(pool, { deadline: new Date(Date.now() - 1) }, "SELECT 1"))).toBeInstanceOf(
        DeadlineExceededError,
      );
      expect(pool.totalCount).toBe(0);
    });

    it("runs a call whose deadline is further away than any timer (30 days)", async () => {
      const { pool } = await freshPool("far-deadline");
      const deadline = new Date(Date.now() + 30 * 24 * 3600 * 1000);
      const { rows } = await postgresQuery<{ n: number }>(pool, { deadline }, "SELECT 1 AS n, pg_sleep(0.1)");
      expect(rows[0]!.n).toBe(1);
    });

    it("times out a statement that waits for a lock another session holds", async () => {
      const { pool, url } = await freshPool("lock-wait");
      await postgresQuery(pool, {}, "CREATE TABLE locked (n int)");
      const holder = createPostgresPool({ url, applicationName: "lock-holder", max: 1 });
      pools.push(holder);
      const holding = await holder.connect();
      await holding.query("BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");
      const err = await failure(postgresQuery(pool, { deadline: new Date(Date.now() + 150) }, "SELECT * FROM locked"));
      expect(err).toBeInstanceOf(DeadlineExceededError);
      await within(1000, async () => (await activeStatements("lock-wait")) === 0);
      await holding.query("ROLLBACK");
      holding.release();
    });

    it("commits a transaction only when all of it succeeds, and rolls back a cancelled one", async () => {
      const { pool, db } = await freshPool("transaction");
      await postgresQuery(pool, {}, "CREATE TABLE rows (n int PRIMARY KEY)");
      await postgresTransaction(pool, {}, async (client) => {
        await client.query("INSERT INTO rows VALUES (1), (2)");
      });
      const failed = await failure(
        postgresTransaction(pool, {}, async (client) => {
          await client.query("INSERT INTO rows VALUES (3)");
          await client.query("INSERT INTO rows VALUES (1)");
        }),
      );
      expect(isUniqueViolation(failed)).toBe(true);

      const controller = new AbortController();
      const cancelled = postgresTransaction(pool, { signal: controller.signal }, async (client) => {
        await client.query("INSERT INTO rows VALUES (4)");
        await client.query("SELECT pg_sleep(30)");
        await client.query("INSERT INTO rows VALUES (5)");
      });
      await within(2000, async () => (await activeStatements("transaction")) === 1);
      controller.abort();
      expect(await failure(cancelled)).toBeInstanceOf(CancelledError);
      await within(1000, async () => pool.totalCount === pool.idleCount);
      expect((await server.sql("SELECT string_agg(n::text, ',' ORDER BY n) FROM rows", db)).trim()).toBe("1,2");
    });
  });

  describe("the pool across an outage", () => {
    it("fails fast with UnavailableError while the server is down and recovers without a new pool (F8)", async () => {
      const { pool } = await freshPool("outage");
      // Idle connections exist when the server goes away: their errors must not crash the process.
      await Promise.all([1, 2, 3].map(() => postgresQuery(pool, {}, "SELECT pg_sleep(0.05)")));
      expect(pool.idleCount).toBeGreaterThan(0);
      await server.stop();
      try {
        for (let i = 0; i < 3; i++) {
          const started = Date.now();
          const err = await failure(postgresQuery(pool, { deadline: new Date(Date.now() + 2000) }, "SELECT 1"));
          expect(err).toBeInstanceOf(UnavailableError);
          expect(Date.now() - started).toBeLessThan(2000);
        }
      } finally {
        await server.start();
      }
      expect((await postgresQuery<{ n: number }>(pool, {}, "SELECT 1 AS n")).rows[0]!.n).toBe(1);
    });
  });
});
