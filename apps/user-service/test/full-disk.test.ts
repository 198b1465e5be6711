import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { STORAGE_FULL_MESSAGE } from "@polyrpc/server-kit";
import { mountTestTmpfs, type TestTmpfs } from "@polyrpc/server-kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteUserStore } from "../src/sqlite-user-store.js";
import { runUserServiceMain, startTestService, type TestService } from "./harness.js";

/** The most writes a test tries before it gives up on filling the disk (each user row is ~300 bytes). */
const MAX_WRITES = 3000;

describe("the user service on a full disk (SQLite on a 2 MiB tmpfs)", () => {
  let disk: TestTmpfs;
  let t: TestService;
  let path: string;
  /** Every user the service acknowledged, with the values it acknowledged last. */
  const acknowledged = new Map<string, { username: string; email: string }>();
  /** Every failure, as code and message. */
  const failures: Array<{ code: number; details: string }> = [];

  beforeAll(async () => {
    disk = mountTestTmpfs(2 * 1024 * 1024);
    path = join(disk.path, "users.db");
    t = await startTestService({ env: { DATABASE_PATH: path } });
    // Fill the disk to about 64 KiB free, so that a few hundred users fill the rest.
    disk.leaveFree(64 * 1024);
  });
  afterAll(async () => {
    await t?.stop();
    disk?.destroy();
  });

  async function record<T>(call: Promise<T>): Promise<T | undefined> {
    try {
      return await call;
    } catch (err) {
      failures.push(err as { code: number; details: string });
      return undefined;
    }
  }

  it("answers CreateUser with RESOURCE_EXHAUSTED once the disk is full, never OK for a lost write", async () => {
    for (let i = 0; i < MAX_WRITES && failures.length < 20; i++) {
      const request = { username: `filler-${i}`, email: `filler-${i}@example.com`, password: "password" };
      const user = await record(t.client.createUser(request));
      if (user) acknowledged.set(user.id, { username: user.username, email: user.email });
    }
    expect(failures.length, "the disk never filled").toBe(20);
    expect(acknowledged.size).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(failure).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, details: STORAGE_FULL_MESSAGE });
    }
  });

  it("answers UpdateUser and CreateUsers with RESOURCE_EXHAUSTED while it stays full", async () => {
    failures.length = 0;
    for (const [id, user] of [...acknowledged].slice(0, 50)) {
      const email = `changed-${user.email}`;
      const updated = await record(t.client.updateUser({ id, email }));
      if (updated) acknowledged.set(id, { username: updated.username, email: updated.email });
    }
    const batch = Array.from({ length: 50 }, (_, i) => ({
      username: `bulk-${i}`,
      email: `bulk-${i}@example.com`,
      password: "password",
    }));
    const bulk = await record(t.client.createUsers(batch));
    if (bulk) for (const user of bulk.users) acknowledged.set(user.id, { username: user.username, email: user.email });
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("keeps every acknowledged write, with the values it acknowledged, across a restart", async () => {
    await t.stop();
    disk.removeFiller();
    const store = new SqliteUserStore(path);
    try {
      for (const [id, user] of acknowledged) {
        expect(await store.get(id)).toMatchObject(user);
      }
      // Nothing that failed was half-written: no bulk user landed unless the whole call was acknowledged.
      const stored = await store.listPage(0, 1_000_000);
      expect(stored.map((u) => u.id).sort()).toEqual([...acknowledged.keys()].sort());
    } finally {
      await store.close();
    }
  });
});

describe("the user service started on a damaged SQLite file", () => {
  it("exits with a message that names the file, not a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyrpc-damaged-"));
    try {
      const path = join(dir, "users.db");
      writeFileSync(path, Buffer.alloc(8192, "this is not a database "));
      const { code, stderr } = await runUserServiceMain({ DATABASE_PATH: path });
      expect(code).toBe(74);
      expect(stderr.trim()).toBe(`user-service: cannot open the SQLite database ${path}: file is not a database`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
