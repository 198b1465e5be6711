import { Code } from "@connectrpc/connect";
import { startTestPostgres, type TestPostgres } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresChatBus } from "../src/postgres-chat-bus.js";
import {
  callError,
  eventually,
  FakeUserDirectory,
  range,
  readMessagesUntil,
  sleep,
  startChatServer,
  StreamReader,
  subscribeAs,
  type TestChatServer,
} from "./harness.js";

// F8 for the chat: the database goes away for a few seconds under two replicas. This file stops
// its own PostgreSQL server; the other files share the run's.
describe("two chat replicas through a PostgreSQL outage", () => {
  let postgres: TestPostgres;
  let a: TestChatServer;
  let b: TestChatServer;
  beforeAll(async () => {
    postgres = await startTestPostgres();
    const databaseUrl = await postgres.createDatabase("chat");
    const env = { DATABASE_CONNECT_TIMEOUT_MS: "1000" };
    const users = () => new FakeUserDirectory(["alice", "bob", "carol"]);
    a = await startChatServer({ storage: "postgres", databaseUrl, users: users(), env });
    b = await startChatServer({ storage: "postgres", databaseUrl, users: users(), env });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await postgres?.destroy();
  });

  it("fails calls fast with UNAVAILABLE, recovers without a restart, and its subscribers miss nothing", async () => {
    const room = "outage";
    const watchers = [await subscribeAs(a.newClient(), room, "carol"), await subscribeAs(b.newClient(), room, "carol")];
    for (let i = 1; i <= 10; i++) await (i % 2 ? a : b).client.sendMessage({ room, userId: "alice", text: `m${i}` });
    for (const watcher of watchers) expect(await readMessagesUntil(watcher, 10n)).toEqual(range(1, 10));

    await postgres.stop();
    // Every call fails with UNAVAILABLE well inside its 10 s deadline: nothing waits for the database.
    for (const replica of [a, b]) {
      const send = await callError(
        replica.client.sendMessage({ room, userId: "alice", text: "lost" }, { timeoutMs: 10_000 }),
      );
      expect(send.code).toBe(Code.Unavailable);
      expect(send.rawMessage).toBe("the database is unavailable; try again later");
      const history = await callError(replica.client.getHistory({ room }, { timeoutMs: 10_000 }));
      expect(history.code).toBe(Code.Unavailable);
      const opened = await new StreamReader(replica.client.subscribe({ room, afterSequence: 0n })).end();
      expect(opened.error?.code).toBe(Code.Unavailable);
    }
    await eventually(() => !(a.bus as PostgresChatBus).isConnected && !(b.bus as PostgresChatBus).isConnected);
    await sleep(3000);
    await postgres.start();

    // The pools and the LISTEN connections come back by themselves; the first sends may still fail.
    const firstSent = await (async () => {
      const giveUp = Date.now() + 30_000;
      for (;;) {
        try {
          return (await a.client.sendMessage({ room, userId: "alice", text: "m11" }, { timeoutMs: 5000 })).message!;
        } catch (err) {
          if (Date.now() > giveUp) throw err;
          await sleep(100);
        }
      }
    })();
    expect(firstSent.sequence).toBe(11n);
    for (let i = 12; i <= 20; i++) await (i % 2 ? a : b).client.sendMessage({ room, userId: "bob", text: `m${i}` });
    // The streams opened before the outage carry on: every message after it, once, in order.
    for (const watcher of watchers) expect(await readMessagesUntil(watcher, 20n, 15_000)).toEqual(range(11, 20));
    for (const replica of [a, b]) {
      expect((replica.bus as PostgresChatBus).reconnects).toBeGreaterThanOrEqual(1);
      expect((await replica.client.getHistory({ room, limit: 100 })).messages.map((m) => m.text)).toEqual(
        range(1, 20).map((n) => `m${n}`),
      );
    }
    await Promise.all(watchers.map((watcher) => watcher.cancel()));
  }, 120_000);
});
