import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalPostgres, startTestPostgres, type TestPostgres } from "../src/index.js";

describe("the PostgreSQL test harness", () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startTestPostgres();
  }, 60_000);
  afterAll(async () => pg?.destroy());

  it("serves SQL on loopback, creates databases, and survives a stop and start", async () => {
    expect(pg.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const url = await pg.createDatabase("harness_check");
    expect(url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/harness_check`);
    await pg.sql("CREATE TABLE t (n int); INSERT INTO t VALUES (41), (1)", "harness_check");
    await pg.stop();
    await expect(pg.sql("SELECT 1")).rejects.toThrow();
    await pg.start();
    expect((await pg.sql("SELECT sum(n) FROM t", "harness_check")).trim()).toBe("42");
    expect((await pg.sql("SHOW listen_addresses")).trim()).toBe("127.0.0.1");
  }, 60_000);
});

describe("a local PostgreSQL in a directory of its own", () => {
  it("keeps its data across runs in that directory, on the port asked for", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyrpc-local-pg-"));
    // As root, the server runs as the postgres user, which must reach the directory.
    chmodSync(dir, 0o755);
    try {
      const first = await startLocalPostgres({ dir: join(dir, "postgres") });
      await first.sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)");
      await first.destroy();
      expect(existsSync(join(dir, "postgres", "data", "PG_VERSION"))).toBe(true);
      const second = await startLocalPostgres({ dir: join(dir, "postgres"), port: first.port });
      try {
        expect(second.port).toBe(first.port);
        expect((await second.sql("SELECT n FROM kept")).trim()).toBe("7");
      } finally {
        await second.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
