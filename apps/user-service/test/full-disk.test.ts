import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { createLogger, STORAGE_FULL_MESSAGE } from "@polyrpc/server-kit";
import { mountTestTmpfs, startLocalPostgres } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userServiceEnvSchema } from "../src/config.js";
import { openUserStore } from "../src/server.js";
import { SqliteUserStore } from "../src/sqlite-user-store.js";
import type { UserStore } from "../src/user-store.js";
import { runUserServiceMain, startTestService, type TestService } from "./harness.js";

/** The most writes a test tries before it gives up on filling the disk (each user row is ~300 bytes). */
const MAX_WRITES = 3000;

/** A store on a small file system of its own, which the test fills. */
interface SmallDisk {
  /** The service's environment for this store. */
  env: Record<string, string>;
  /** Fills the disk to a little free space. */
  fill(): void;
  /** Empties the filler, restarts what needs restarting and opens the store again to read it. */
  reopen(): Promise<UserStore>;
  destroy(): Promise<void>;
}

const smallDisks: Record<string, () => Promise<SmallDisk>> = {
  /** SQLite on a 2 MiB tmpfs. */
  async sqlite() {
    const disk = mountTestTmpfs(2 * 1024 * 1024);
    const path = join(disk.path, "users.db");
    return {
      env: { DATABASE_PATH: path },
      fill: () => disk.leaveFree(64 * 1024),
      async reopen() {
        disk.removeFiller();
        return new SqliteUserStore(path);
      },
      async destroy() {
        disk.destroy();
      },
    };
  },
  /** A durable PostgreSQL (fsync and synchronous commit on) with its data on a 64 MiB tmpfs. */
  async postgres() {
    const disk = mountTestTmpfs(64 * 1024 * 1024);
    const server = await startLocalPostgres({ dir: join(disk.path, "pg"), durable: true });
    const url = await server.createDatabase("users");
    return {
      env: { DATABASE_URL: url },
      fill: () => disk.leaveFree(256 * 1024),
      async reopen() {
        disk.removeFiller();
        // A restart: what it acknowledged must be in the data files or the WAL it replays.
        await server.stop();
        await server.start();
        const config = userServiceEnvSchema.parse({ DATABASE_URL: url, POLYRPC_ENV: "development" });
        return openUserStore(config, createLogger({ name: "user-store", level: "silent" }));
      },
      async destroy() {
        await server.destroy();
        disk.destroy();
      },
    };
  },
};

describe.each(Object.keys(smallDisks))("the user service on a full disk (%s)", (backend) => {
  let disk: SmallDisk;
  let t: TestService | undefined;
  /** Every user the service acknowledged, with the values it acknowledged last. */
  const acknowledged = new Map<string, { username: string; email: string }>();
  /** Every failure, as code and message. */
  const failures: Array<{ code: number; details: string }> = [];

  beforeAll(async () => {
    disk = await smallDisks[backend]!();
    // Many calls from one caller: the kit's own tests cover the rate limits.
    t = await startTestService({ env: { ...disk.env, RATE_LIMIT_UNARY_PER_S: "0" } });
    // Fill the disk to a little free space, so that a few hundred users fill the rest.
    disk.fill();
  });
  afterAll(async () => {
    await t?.stop();
    await disk?.destroy();
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
      const user = await record(t!.client.createUser(request));
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
      const updated = await record(t!.client.updateUser({ id, email }));
      if (updated) acknowledged.set(id, { username: updated.username, email: updated.email });
    }
    const batch = Array.from({ length: 50 }, (_, i) => ({
      username: `bulk-${i}`,
      email: `bulk-${i}@example.com`,
      password: "password",
    }));
    const bulk = await record(t!.client.createUsers(batch));
    if (bulk) for (const user of bulk.users) acknowledged.set(user.id, { username: user.username, email: user.email });
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("keeps every acknowledged write, with the values it acknowledged, across a restart", async () => {
    await t!.stop();
    t = undefined;
    const store = await disk.reopen();
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
