import { Code } from "@connectrpc/connect";
import { UnavailableError } from "@polyrpc/server-kit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresChatBus } from "../src/postgres-chat-bus.js";
import {
  callError,
  eventually,
  FakeUserDirectory,
  openPostgresLog,
  range,
  readMessagesUntil,
  startChatServer,
  StreamReader,
  subscribeAs,
  type TestChatServer,
} from "./harness.js";

const users = () => new FakeUserDirectory(["alice", "bob", "carol", "dave", "erin", "frank", "grace"]);

// Two chat servers, each with its own pool and LISTEN connection, on one PostgreSQL database: what
// two pods behind one Service are.
describe("two chat replicas on one PostgreSQL database", () => {
  let a: TestChatServer;
  let b: TestChatServer;
  beforeAll(async () => {
    a = await startChatServer({ storage: "postgres", users: users() });
    b = await startChatServer({ storage: "postgres", databaseUrl: a.databaseUrl!, users: users() });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("delivers messages sent to either replica to the subscribers of both, in sequence order, exactly once", async () => {
    const room = "across";
    const subscribers = await Promise.all([
      subscribeAs(a.newClient(), room, "alice"),
      subscribeAs(a.newClient(), room, "bob"),
      subscribeAs(b.newClient(), room, "carol"),
      subscribeAs(b.newClient(), room, "dave"),
    ]);
    // Four senders at once, two on each replica: their messages interleave in one room.
    const acks = await Promise.all(
      [a, a, b, b].map(async (replica, n) => {
        const client = replica.newClient();
        const sequences: bigint[] = [];
        for (let i = 0; i < 25; i++) {
          const { message } = await client.sendMessage({ room, userId: "erin", text: `sender ${n} #${i}` });
          sequences.push(message!.sequence);
        }
        return sequences;
      }),
    );
    // Gap-free across replicas: the acknowledged sequences are exactly 1..100.
    expect(acks.flat().sort((x, y) => (x < y ? -1 : 1))).toEqual(range(1, 100));
    for (const reader of subscribers) expect(await readMessagesUntil(reader, 100n)).toEqual(range(1, 100));
    await Promise.all(subscribers.map((reader) => reader.cancel()));
  });

  it("carries presence and messages too large for a notification to the other replica", async () => {
    const room = "large";
    const watcher = await subscribeAs(b.newClient(), room, "carol");
    const bob = await subscribeAs(a.newClient(), room, "bob");
    const joined = await watcher.next();
    expect(joined.event).toMatchObject({ case: "presence", value: { userId: "bob" } });
    // 4,096 emoji are 16 KiB of UTF-8: the notification carries only room and sequence.
    const text = "🙂".repeat(4096);
    await a.client.sendMessage({ room, userId: "bob", text });
    const received = await watcher.next();
    expect(received.event).toMatchObject({ case: "message", value: { sequence: 1n, sender: "bob", text } });
    await Promise.all([watcher.cancel(), bob.cancel()]);
  });

  it("resumes a subscriber that moves to the other replica from its last sequence, with nothing lost", async () => {
    const room = "moving";
    let sending = true;
    const sender = (async () => {
      const client = a.newClient();
      while (sending) await client.sendMessage({ room, userId: "frank", text: "tick" });
    })();
    const first = new StreamReader(a.newClient().subscribe({ room, afterSequence: 0n }));
    const before = await readMessagesUntil(first, 20n);
    await first.cancel();
    // The client reconnects to the other replica while the sender goes on.
    const resumed = new StreamReader(b.newClient().subscribe({ room, afterSequence: before.at(-1)! }));
    const target = (await b.log.lastSequence(room)) + 20n;
    const after = await readMessagesUntil(resumed, target);
    sending = false;
    await sender;
    expect([...before, ...after]).toEqual(range(1, Number(target)));
    await resumed.cancel();
  });

  it("lets go of a cancelled stream: its subscription ends and none of its queries stays on the server (F6)", async () => {
    const room = "cancelled";
    await Promise.all(Array.from({ length: 600 }, (_, i) => a.log.append(room, "alice", `m${i}`)));
    const controller = new AbortController();
    const reader = new StreamReader(
      a.newClient().subscribe({ room, afterSequence: 0n }, { signal: controller.signal }),
    );
    await reader.take(10);
    expect((a.bus as PostgresChatBus).subscriberCount(room)).toBe(1);
    controller.abort();
    await eventually(() => (a.bus as PostgresChatBus).subscriberCount(room) === 0);
    const admin = new pg.Client({ connectionString: a.databaseUrl! });
    await admin.connect();
    try {
      const active = async () => {
        const { rows } = await admin.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
        );
        return Number(rows[0]!.n);
      };
      await eventually(async () => (await active()) === 0, 1000);
    } finally {
      await admin.end();
    }
  });

  it("refuses an after_sequence beyond the room's last message on either replica", async () => {
    await a.client.sendMessage({ room: "short", userId: "alice", text: "one" });
    for (const replica of [a, b]) {
      const stream = new StreamReader(replica.client.subscribe({ room: "short", afterSequence: 2n }));
      const { error } = await stream.end();
      expect(error?.code).toBe(Code.InvalidArgument);
    }
    expect((await callError(b.client.sendMessage({ room: "short", userId: "mallory", text: "x" }))).code).toBe(
      Code.NotFound,
    );
  });
});

describe("a replica whose LISTEN connection breaks", () => {
  let a: TestChatServer;
  let b: TestChatServer;
  let busB: PostgresChatBus;
  beforeAll(async () => {
    a = await startChatServer({ storage: "postgres", users: users() });
    // B is built by hand to name its LISTEN connection and slow its reconnect, so that messages are
    // surely committed while it is not listening.
    const log = await openPostgresLog(a.databaseUrl!);
    busB = new PostgresChatBus({
      connection: { connectionString: a.databaseUrl!, application_name: "chat-b-listen" },
      pool: log.pool,
      log,
      reconnectDelayMs: 1500,
      maxReconnectDelayMs: 1500,
    });
    await busB.start();
    b = await startChatServer({ log, bus: busB, users: users() });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("keeps its streams open, then catches up from the log what other replicas stored meanwhile", async () => {
    const room = "partition";
    const watcher = await subscribeAs(b.newClient(), room, "grace");
    await a.client.sendMessage({ room, userId: "alice", text: "before" });
    expect(await readMessagesUntil(watcher, 1n)).toEqual([1n]);

    const admin = new pg.Client({ connectionString: a.databaseUrl! });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ killed: boolean }>(
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'chat-b-listen'",
      );
      expect(rows).toEqual([{ killed: true }]);
    } finally {
      await admin.end();
    }
    // Stored through A while B is not listening: B hears of them only through its catch-up.
    for (let i = 2; i <= 4; i++) await a.client.sendMessage({ room, userId: "alice", text: `meanwhile ${i}` });
    expect(await readMessagesUntil(watcher, 4n)).toEqual(range(2, 4));
    expect(busB.reconnects).toBe(1);
    expect(busB.isConnected).toBe(true);

    await a.client.sendMessage({ room, userId: "alice", text: "after" });
    expect(await readMessagesUntil(watcher, 5n)).toEqual([5n]);
    await watcher.cancel();
  });
});

describe("PostgresChatBus", () => {
  it("refuses to start when its database cannot be reached, and closes itself", async () => {
    const log = await openPostgresLog();
    try {
      const bus = new PostgresChatBus({
        // Port 1 on loopback: nothing listens there.
        connection: { connectionString: "postgres://postgres@127.0.0.1:1/chat", connectionTimeoutMillis: 1000 },
        pool: log.pool,
        log,
        reconnectDelayMs: 10,
      });
      await expect(bus.start()).rejects.toThrow(new UnavailableError("the chat bus cannot reach the database"));
      expect(bus.isConnected).toBe(false);
      await expect(bus.subscribe("room", () => {})).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await log.close();
    }
  });
});
