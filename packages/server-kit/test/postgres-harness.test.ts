import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPostgres, type TestPostgres } from "../src/testing/index.js";

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
