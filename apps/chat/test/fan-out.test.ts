import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  FakeUserDirectory,
  range,
  readMessagesUntil,
  sequencesOf,
  sleep,
  startChatServer,
  StreamReader,
  subscribeAs,
  type StorageKind,
  type TestChatServer,
} from "./harness.js";

const memberIds = Array.from({ length: 60 }, (_, i) => `member-${i}`);

/** Both buses count their subscriptions per room. */
type CountingBus = { subscriberCount(room: string): number };

// The in-process bus of one replica over SQLite, and the LISTEN/NOTIFY bus over PostgreSQL.
describe.each<StorageKind>(["memory", "postgres"])("ChatService fan-out on %s storage", (storage) => {
  let t: TestChatServer;
  beforeAll(async () => {
    t = await startChatServer({ storage, users: new FakeUserDirectory(memberIds), bufferLimit: 32 });
  });
  afterAll(() => t.stop());

  it("delivers the same ordered messages to each of 50 subscribers", async () => {
    const room = "fan-out-50";
    const clients = [t.newClient(), t.newClient()];
    const readers = await Promise.all(memberIds.slice(0, 50).map((id, i) => subscribeAs(clients[i % 2]!, room, id)));
    const sender = t.newClient();
    for (let i = 1; i <= 100; i++) await sender.sendMessage({ room, userId: "member-55", text: `message ${i}` });
    const received = await Promise.all(readers.map((reader) => readMessagesUntil(reader, 100n)));
    for (const sequences of received) expect(sequences).toEqual(range(1, 100));
    await Promise.all(readers.map((reader) => reader.cancel()));
  });

  it("gives a client that reconnects with after_sequence every message exactly once while others keep sending", async () => {
    const room = "resume-race";
    const sender = t.newClient();
    for (let i = 0; i < 10; i++) await sender.sendMessage({ room, userId: "member-0", text: `warm-up ${i}` });

    // Three senders send continuously for the whole test.
    let sending = true;
    const senders = [0, 1, 2].map(async (n) => {
      while (sending) await sender.sendMessage({ room, userId: `member-${n}`, text: `from ${n}` });
    });

    // Five clients each read part of the room, drop the stream, and resume from what they had.
    const client = t.newClient();
    const sessions = [0, 1, 2, 3, 4].map(async (n) => {
      const first = new StreamReader(client.subscribe({ room, afterSequence: 0n }));
      const before: bigint[] = [];
      const stopAt = 12 + n * 7;
      while (before.length < stopAt) {
        const event = await first.next();
        if (event.event.case === "message") before.push(event.event.value.sequence);
      }
      await first.cancel();
      await sleep(n * 3);
      const resumed = new StreamReader(client.subscribe({ room, afterSequence: before.at(-1)! }));
      return { before, resumed };
    });
    const opened = await Promise.all(sessions);
    // Keep sending past the resume points, however fast this backend stores.
    const resumedAt = await t.log.lastSequence(room);
    await eventually(async () => (await t.log.lastSequence(room)) > resumedAt + 20n, 20_000);
    sending = false;
    await Promise.all(senders);
    const last = await t.log.lastSequence(room);
    expect(last).toBeGreaterThan(50n);

    for (const { before, resumed } of opened) {
      const after = await readMessagesUntil(resumed, last);
      expect([...before, ...after]).toEqual(range(1, Number(last)));
      await resumed.cancel();
    }
  });

  it("isolates a subscriber that stops reading: the others get everything, it ends RESOURCE_EXHAUSTED and can resume", async () => {
    const room = "slow-consumer";
    const bus = t.bus as unknown as CountingBus;
    // The slow subscriber has its own connection, so the data piling up on it holds up nobody else.
    const slow = await subscribeAs(t.newClient(), room, "member-50");
    const fastClient = t.newClient();
    const stopFast = new AbortController();
    const fast = await Promise.all(
      [51, 52, 53].map((n) => subscribeAs(fastClient, room, `member-${n}`, stopFast.signal)),
    );
    const fastSeen = fast.map(() => [] as bigint[]);
    const fastReading = fast.map(async (reader, i) => {
      for (;;) {
        // Reads until the test aborts the calls.
        const event = await reader.next(60_000).catch(() => undefined);
        if (!event) return;
        if (event.event.case === "message") fastSeen[i]!.push(event.event.value.sequence);
      }
    });

    // The transport buffers megabytes for a reader that stops (socket buffers, HTTP/2 windows), so
    // send 16 KB messages until the slow one's queue (32 events) overflows behind all that, then some.
    const text = "🙂".repeat(4096);
    const sender = t.newClient();
    let total = 0;
    const sendBatch = (count: number) =>
      Promise.all(
        [0, 1, 2, 3].map(async () => {
          for (let i = 0; i < count / 4; i++) {
            await sender.sendMessage({ room, userId: "member-55", text });
            total++;
          }
        }),
      );
    while (bus.subscriberCount(room) === 4) {
      if (total >= 6000) throw new Error("the slow subscriber never overflowed");
      await sendBatch(100);
    }
    await sendBatch(20);
    // The publisher never waited for it: the others have everything, promptly.
    // (A bound on waiting, not a timing: a busy machine delivers them all the same, later.)
    await eventually(() => fastSeen.every((seen) => seen.length === total), 60_000);
    for (const seen of fastSeen) expect(seen).toEqual(range(1, total));

    // The slow one now reads: what was in flight, in order, then RESOURCE_EXHAUSTED.
    const { error, rest } = await slow.end(15_000);
    const got = sequencesOf(rest);
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(total);
    expect(got).toEqual(range(1, got.length));
    expect(error?.rawMessage).toBe(`subscriber fell behind; resume with after_sequence ${got.length}`);

    // It resumes from its last sequence and gets the rest, exactly once.
    const resumed = new StreamReader(t.newClient().subscribe({ room, afterSequence: BigInt(got.length) }));
    expect(await readMessagesUntil(resumed, BigInt(total))).toEqual(range(got.length + 1, total));
    await resumed.cancel();
    stopFast.abort();
    await Promise.all(fastReading);
    // Megabytes must pile up first; over PostgreSQL every one of them is stored and read back.
  }, 180_000);
});
