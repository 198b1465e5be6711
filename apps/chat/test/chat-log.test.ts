import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { DeadlineExceededError, CancelledError } from "@polyrpc/server-kit";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { ChatLog } from "../src/chat-log.js";
import { migratePostgres } from "../src/postgres-chat-log.js";
import { migrate, SqliteChatLog } from "../src/sqlite-chat-log.js";
import { createTestDatabase, eventually, openPostgresLog, range, type StorageKind } from "./harness.js";

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "polyrpc-chat-log-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function openLog(storage: StorageKind, options: { now?: () => Date } = {}): Promise<ChatLog> {
  const log =
    storage === "postgres"
      ? await openPostgresLog(undefined, options)
      : new SqliteChatLog(storage === "disk" ? join(tempDir(), "nested", "chat.db") : ":memory:", options);
  cleanups.push(() => log.close());
  return log;
}

const sequences = (messages: Array<{ sequence: bigint }>) => messages.map((m) => m.sequence);

// The ChatLog contract, on every backend: SQLite in memory and on disk, and PostgreSQL.
describe.each<StorageKind>(["memory", "disk", "postgres"])("ChatLog on %s", (storage) => {
  it("numbers each room's messages 1, 2, 3, ... independently of other rooms", async () => {
    const log = await openLog(storage);
    const appended = [];
    for (let i = 0; i < 5; i++) {
      appended.push(await log.append("a", "alice", `a${i}`));
      if (i % 2 === 0) appended.push(await log.append("b", "bob", `b${i}`));
    }
    expect(sequences(appended.filter((m) => m.room === "a"))).toEqual(range(1, 5));
    expect(sequences(appended.filter((m) => m.room === "b"))).toEqual(range(1, 3));
    expect(await log.lastSequence("a")).toBe(5n);
    expect(await log.lastSequence("b")).toBe(3n);
    expect(await log.lastSequence("empty")).toBe(0n);
  });

  it("keeps sequences gap-free and unique under concurrent appends to several rooms", async () => {
    const log = await openLog(storage);
    const rooms = ["r1", "r2", "r3"];
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => log.append(rooms[i % 3]!, `user-${i % 7}`, `message ${i}`)),
    );
    for (const room of rooms) {
      const mine = results.filter((m) => m.room === room);
      expect(sequences(mine).sort((x, y) => (x < y ? -1 : 1))).toEqual(range(1, 100));
      const stored = await log.read(room, { afterSequence: 0n, limit: 1000 });
      expect(sequences(stored)).toEqual(range(1, 100));
    }
  });

  it("stores sender, text and the time it stored the message, and returns it as stored", async () => {
    const log = await openLog(storage, { now: () => new Date("2030-01-02T03:04:05.678Z") });
    const message = await log.append("room.1", "alice", "hello 👋 wörld");
    expect(message).toEqual({
      room: "room.1",
      sender: "alice",
      text: "hello 👋 wörld",
      sentAt: new Date("2030-01-02T03:04:05.678Z"),
      sequence: 1n,
    });
    expect(await log.read("room.1", { limit: 10 })).toEqual([message]);
  });

  describe("read", () => {
    async function logWith(count: number) {
      const log = await openLog(storage);
      for (let i = 1; i <= count; i++) await log.append("room", "alice", `m${i}`);
      await log.append("other", "bob", "elsewhere");
      return log;
    }

    it("returns the latest `limit` messages, oldest first, without a cursor", async () => {
      const log = await logWith(10);
      expect(sequences(await log.read("room", { limit: 3 }))).toEqual(range(8, 10));
      expect(sequences(await log.read("room", { limit: 50 }))).toEqual(range(1, 10));
    });

    it("returns the first `limit` messages after afterSequence", async () => {
      const log = await logWith(10);
      expect(sequences(await log.read("room", { afterSequence: 0n, limit: 3 }))).toEqual(range(1, 3));
      expect(sequences(await log.read("room", { afterSequence: 7n, limit: 50 }))).toEqual(range(8, 10));
      expect(await log.read("room", { afterSequence: 10n, limit: 50 })).toEqual([]);
    });

    it("returns the `limit` messages closest before beforeSequence, oldest first", async () => {
      const log = await logWith(10);
      expect(sequences(await log.read("room", { beforeSequence: 6n, limit: 3 }))).toEqual(range(3, 5));
      expect(sequences(await log.read("room", { beforeSequence: 3n, limit: 50 }))).toEqual(range(1, 2));
      expect(await log.read("room", { beforeSequence: 1n, limit: 50 })).toEqual([]);
    });

    it("returns the first messages strictly between afterSequence and beforeSequence", async () => {
      const log = await logWith(10);
      expect(sequences(await log.read("room", { afterSequence: 2n, beforeSequence: 6n, limit: 50 }))).toEqual(
        range(3, 5),
      );
      expect(sequences(await log.read("room", { afterSequence: 2n, beforeSequence: 9n, limit: 2 }))).toEqual(
        range(3, 4),
      );
    });

    it("treats cursors beyond the signed 64-bit range of the database as no bound, and limit 0 as nothing", async () => {
      const log = await logWith(3);
      const huge = 2n ** 64n - 1n;
      expect(sequences(await log.read("room", { beforeSequence: huge, limit: 50 }))).toEqual(range(1, 3));
      expect(await log.read("room", { afterSequence: huge, limit: 50 })).toEqual([]);
      expect(await log.read("room", { limit: 0 })).toEqual([]);
    });
  });
});

describe("SqliteChatLog on a file", () => {
  it("keeps messages and sequences across a restart, and migrates only once", async () => {
    const path = join(tempDir(), "chat.db");
    const first = new SqliteChatLog(path);
    await first.append("room", "alice", "one");
    await first.append("room", "alice", "two");
    await first.close();

    const second = new SqliteChatLog(path);
    cleanups.push(() => second.close());
    expect((await second.append("room", "bob", "three")).sequence).toBe(3n);
    expect((await second.read("room", { limit: 10 })).map((m) => m.text)).toEqual(["one", "two", "three"]);

    const db = new Database(path, { readonly: true });
    cleanups.push(() => void db.close());
    expect(db.prepare("SELECT version FROM schema_migrations").all()).toEqual([{ version: 1 }]);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("gives gap-free sequences when two logs (two replicas) append to the same file", async () => {
    const path = join(tempDir(), "chat.db");
    const a = new SqliteChatLog(path);
    const b = new SqliteChatLog(path);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).append("room", "alice", `m${i}`)),
    );
    expect(sequences(results).sort((x, y) => (x < y ? -1 : 1))).toEqual(range(1, 100));
    expect(sequences(await b.read("room", { afterSequence: 0n, limit: 500 }))).toEqual(range(1, 100));
  });

  it("applies migrations idempotently", () => {
    const db = new Database(":memory:");
    expect(migrate(db)).toBe(1);
    expect(migrate(db)).toBe(1);
    expect(db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get()).toEqual({ n: 1 });
    db.close();
  });
});

describe("PostgresChatLog", () => {
  it("gives gap-free sequences when two pools (two replicas) append to the same rooms at once", async () => {
    const url = await createTestDatabase();
    const [a, b] = await Promise.all([openPostgresLog(url), openPostgresLog(url)]);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).append(i % 4 < 2 ? "one" : "two", "alice", `m${i}`)),
    );
    for (const room of ["one", "two"]) {
      const mine = sequences(results.filter((m) => m.room === room));
      expect(mine.sort((x, y) => (x < y ? -1 : 1))).toEqual(range(1, 100));
      expect(sequences(await a.read(room, { afterSequence: 0n, limit: 500 }))).toEqual(range(1, 100));
      expect(await b.lastSequence(room)).toBe(100n);
    }
  });

  it("applies its migrations once when several replicas start at the same moment", async () => {
    const url = await createTestDatabase();
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    cleanups.push(...pools.map((pool) => () => pool.end()));
    expect(await Promise.all(pools.map((pool) => migratePostgres(pool)))).toEqual([1, 1, 1, 1]);
    const { rows } = await pools[0]!.query("SELECT version FROM chat_schema_migrations");
    expect(rows).toEqual([{ version: 1 }]);
  });

  describe("under a call's deadline and cancellation", () => {
    /** A log whose room "busy" has one message and whose counter row another transaction holds. */
    async function blockedLog() {
      const url = await createTestDatabase();
      const log = await openPostgresLog(url);
      cleanups.push(() => log.close());
      await log.append("busy", "alice", "first");
      const locker = new pg.Client({ connectionString: url });
      await locker.connect();
      cleanups.push(() => locker.end());
      await locker.query("BEGIN");
      await locker.query("SELECT * FROM chat_rooms WHERE room = 'busy' FOR UPDATE");
      // pg_stat_activity is a snapshot per transaction: watch from a connection outside one.
      const watcher = new pg.Client({ connectionString: url });
      await watcher.connect();
      cleanups.push(() => watcher.end());
      /** Statements still running on the server for this database (the watcher's own excluded). */
      const running = async () => {
        const { rows } = await watcher.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'",
        );
        return Number(rows[0]!.n);
      };
      return { log, locker, running };
    }

    it("fails an append that outlives its deadline with DeadlineExceededError, cancels it on the server and stores nothing", async () => {
      const { log, locker, running } = await blockedLog();
      const appending = log.append("busy", "bob", "too late", { deadline: new Date(Date.now() + 300) });
      await eventually(async () => (await running()) === 1);
      await expect(appending).rejects.toBeInstanceOf(DeadlineExceededError);
      await eventually(async () => (await running()) === 0, 1000);
      await locker.query("ROLLBACK");
      expect(await log.lastSequence("busy")).toBe(1n);
      expect((await log.append("busy", "bob", "in time", { deadline: new Date(Date.now() + 5000) })).sequence).toBe(2n);
    });

    it("fails a cancelled append with CancelledError, cancels it on the server and stores nothing", async () => {
      const { log, locker, running } = await blockedLog();
      const controller = new AbortController();
      const appending = log.append("busy", "bob", "never mind", { signal: controller.signal });
      await eventually(async () => (await running()) === 1);
      controller.abort();
      await expect(appending).rejects.toBeInstanceOf(CancelledError);
      await eventually(async () => (await running()) === 0, 1000);
      await locker.query("ROLLBACK");
      expect(await log.lastSequence("busy")).toBe(1n);
      expect(sequences(await log.read("busy", { limit: 10 }))).toEqual([1n]);
    });
  });
});
