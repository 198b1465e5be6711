import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "@polyrpc/server-kit";
import { afterEach, describe, expect, it } from "vitest";
import {
  InProcessChatBus,
  type ChatBus,
  type ChatEvent,
  type ChatEventListener,
  type Unsubscribe,
} from "../src/chat-bus.js";
import type { ChatLog, StoredMessage } from "../src/chat-log.js";
import { openRoomStream, type RoomStream } from "../src/room-stream.js";
import { SqliteChatLog } from "../src/sqlite-chat-log.js";
import { eventually, range, sleep } from "./harness.js";

const logs: SqliteChatLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
});

function memoryLog(): SqliteChatLog {
  const log = new SqliteChatLog(":memory:");
  logs.push(log);
  return log;
}

/** What the service does for a send: store, then publish. */
async function post(log: ChatLog, bus: ChatBus, room: string, text = "hi"): Promise<StoredMessage> {
  const message = await log.append(room, "alice", text);
  await bus.publish({ kind: "message", message });
  return message;
}

function presence(room: string, userId: string): ChatEvent {
  return { kind: "presence", presence: { room, userId, kind: "joined", occurredAt: new Date() } };
}

const sequencesOf = (events: ChatEvent[]) => events.flatMap((e) => (e.kind === "message" ? [e.message.sequence] : []));

/** Reads a stream until it has delivered the message with sequence `last`. */
async function readUntil(stream: RoomStream, last: bigint, timeoutMs = 5000): Promise<ChatEvent[]> {
  const events: ChatEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  for await (const event of stream) {
    events.push(event);
    if (event.kind === "message" && event.message.sequence >= last) return events;
    if (Date.now() > deadline) break;
  }
  throw new Error(`stream ended before sequence ${last}; got ${sequencesOf(events).join(",")}`);
}

/** A deterministic pseudo-random generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A bus that behaves like an unreliable multi-replica backend: it delays every message by a random
 * few milliseconds (reordering them), delivers some twice and loses some, except those `keep` says
 * must arrive.
 */
class ChaoticBus implements ChatBus {
  private readonly inner = new InProcessChatBus();
  private readonly rand = random(42);
  lost = 0;

  constructor(private readonly keep: (event: ChatEvent) => boolean) {}

  async publish(event: ChatEvent): Promise<void> {
    if (!this.keep(event) && this.rand() < 0.15) {
      this.lost++;
      return;
    }
    const copies = this.rand() < 0.1 ? 2 : 1;
    for (let i = 0; i < copies; i++) setTimeout(() => void this.inner.publish(event), Math.floor(this.rand() * 4));
  }

  subscribe(room: string, listener: ChatEventListener): Promise<Unsubscribe> {
    return this.inner.subscribe(room, listener);
  }
}

describe("openRoomStream", () => {
  it("without afterSequence, delivers only messages stored after it subscribed", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    await post(log, bus, "room");
    await post(log, bus, "room");
    const stream = await openRoomStream({ room: "room", log, bus, bufferLimit: 100 });
    expect(stream.lastSequenceAtOpen).toBe(2n);
    for (let i = 0; i < 3; i++) await post(log, bus, "room");
    await post(log, bus, "elsewhere");
    expect(sequencesOf(await readUntil(stream, 5n))).toEqual(range(3, 5));
    stream.close();
  });

  it("with afterSequence, replays the stored messages after it page by page, then goes live", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    for (let i = 0; i < 10; i++) await post(log, bus, "room");
    const stream = await openRoomStream({ room: "room", afterSequence: 4n, log, bus, bufferLimit: 100, pageSize: 3 });
    const reading = readUntil(stream, 13n);
    for (let i = 0; i < 3; i++) await post(log, bus, "room");
    expect(sequencesOf(await reading)).toEqual(range(5, 13));
  });

  it("replays the whole history for afterSequence 0", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    for (let i = 0; i < 4; i++) await post(log, bus, "room");
    const stream = await openRoomStream({ room: "room", afterSequence: 0n, log, bus, bufferLimit: 100 });
    expect(sequencesOf(await readUntil(stream, 4n))).toEqual(range(1, 4));
    stream.close();
  });

  it("delivers every message exactly once, in order, when resuming while messages are being sent", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    for (let i = 0; i < 20; i++) await post(log, bus, "room");
    let sending = true;
    const sender = (async () => {
      while (sending) {
        await post(log, bus, "room");
        await new Promise((done) => setImmediate(done));
      }
    })();
    // Resume from many points while the sender runs, with small pages so the replay interleaves.
    const readers = [0n, 5n, 19n, 20n].map(async (after) => {
      await sleep(Number(after) % 7);
      const stream = await openRoomStream({
        room: "room",
        afterSequence: after,
        log,
        bus,
        bufferLimit: 10_000,
        pageSize: 4,
      });
      const target = (await log.lastSequence("room")) + 30n;
      return { after, events: await readUntil(stream, target), target };
    });
    const results = await Promise.all(readers);
    sending = false;
    await sender;
    for (const { after, events, target } of results) {
      expect(sequencesOf(events)).toEqual(range(Number(after) + 1, Number(target)));
    }
  });

  it("repairs a bus that reorders, duplicates and loses messages from the log", async () => {
    const log = memoryLog();
    const total = 200;
    // Only the last message is sure to arrive; everything else may be late, doubled or lost.
    const bus = new ChaoticBus((e) => e.kind === "message" && e.message.sequence === BigInt(total));
    const streams = await Promise.all(
      [undefined, 0n].map((afterSequence) =>
        openRoomStream({ room: "room", afterSequence, log, bus, bufferLimit: 10_000 }),
      ),
    );
    const reading = streams.map((stream) => readUntil(stream, BigInt(total)));
    await Promise.all(Array.from({ length: total }, () => post(log, bus, "room")));
    for (const events of await Promise.all(reading)) expect(sequencesOf(events)).toEqual(range(1, total));
    expect(bus.lost).toBeGreaterThan(0);
  });

  it("interleaves presence events with messages as they arrive", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    const stream = await openRoomStream({ room: "room", log, bus, bufferLimit: 100 });
    await bus.publish(presence("room", "bob"));
    await post(log, bus, "room");
    await bus.publish(presence("room", "carol"));
    await post(log, bus, "room");
    const events = await readUntil(stream, 2n);
    expect(events.map((e) => (e.kind === "message" ? `m${e.message.sequence}` : e.presence.userId))).toEqual([
      "bob",
      "m1",
      "carol",
      "m2",
    ]);
    stream.close();
  });

  it("ends with ResourceExhaustedError naming the resume point when its consumer falls behind, without holding up the publisher", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    const slow = await openRoomStream({ room: "room", log, bus, bufferLimit: 5 });
    const fast = await openRoomStream({ room: "room", log, bus, bufferLimit: 1000 });
    const iterator = slow[Symbol.asyncIterator]();
    await post(log, bus, "room");
    expect(await iterator.next()).toMatchObject({ value: { message: { sequence: 1n } } });
    expect(bus.subscriberCount("room")).toBe(2);
    // The slow consumer stops reading; each publish still returns at once.
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      await post(log, bus, "room");
      expect(performance.now() - started).toBeLessThan(50);
    }
    // It stopped listening as soon as it overflowed; the fast one has everything.
    expect(bus.subscriberCount("room")).toBe(1);
    expect(sequencesOf(await readUntil(fast, 51n))).toEqual(range(1, 51));
    const failure = await iterator.next().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ResourceExhaustedError);
    expect((failure as Error).message).toBe("subscriber fell behind; resume with after_sequence 1");
    // Resuming from there gets the rest.
    const resumed = await openRoomStream({ room: "room", afterSequence: 1n, log, bus, bufferLimit: 5 });
    expect(sequencesOf(await readUntil(resumed, 51n))).toEqual(range(2, 51));
    resumed.close();
    fast.close();
  });

  it("fails when a replaying consumer falls behind the live events", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    for (let i = 0; i < 10; i++) await post(log, bus, "room");
    const stream = await openRoomStream({ room: "room", afterSequence: 0n, log, bus, bufferLimit: 3, pageSize: 2 });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toMatchObject({ message: { sequence: 1n } });
    for (let i = 0; i < 3; i++) await bus.publish(presence("room", `user-${i}`));
    await post(log, bus, "room");
    await expect(iterator.next()).rejects.toThrow("subscriber fell behind; resume with after_sequence 1");
  });

  it("ends cleanly and unsubscribes when the signal aborts", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    const controller = new AbortController();
    const stream = await openRoomStream({ room: "room", log, bus, bufferLimit: 10, signal: controller.signal });
    const reading = (async () => {
      const seen: ChatEvent[] = [];
      for await (const event of stream) seen.push(event);
      return seen;
    })();
    await post(log, bus, "room");
    await eventually(() => bus.subscriberCount("room") === 1);
    controller.abort();
    expect(sequencesOf(await reading)).toEqual([1n]);
    expect(bus.subscriberCount()).toBe(0);
  });

  it("unsubscribes when the consumer stops iterating, or closes it without iterating", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    const stream = await openRoomStream({ room: "room", log, bus, bufferLimit: 10 });
    await post(log, bus, "room");
    for await (const event of stream) {
      expect(event.kind).toBe("message");
      break;
    }
    expect(bus.subscriberCount()).toBe(0);
    const unused = await openRoomStream({ room: "room", log, bus, bufferLimit: 10 });
    expect(bus.subscriberCount()).toBe(1);
    unused.close();
    expect(bus.subscriberCount()).toBe(0);
  });

  it("refuses an afterSequence beyond the room's last message, and does not stay subscribed", async () => {
    const log = memoryLog();
    const bus = new InProcessChatBus();
    await post(log, bus, "room");
    const opening = openRoomStream({ room: "room", afterSequence: 2n, log, bus, bufferLimit: 10 });
    await expect(opening).rejects.toThrow(InvalidArgumentError);
    await expect(opening).rejects.toThrow('after_sequence 2 is beyond the last message of room "room" (1)');
    expect(bus.subscriberCount()).toBe(0);
  });

  it("fails with UnavailableError rather than skip messages the log cannot produce", async () => {
    const real = memoryLog();
    const bus = new InProcessChatBus();
    // A log that has not caught up: it hides message 2 from reads.
    const lagging: ChatLog = {
      append: (...args) => real.append(...args),
      lastSequence: (room) => real.lastSequence(room),
      read: async (room, options) => (await real.read(room, options)).filter((m) => m.sequence !== 2n),
      close: () => real.close(),
    };
    const stream = await openRoomStream({ room: "room", log: lagging, bus, bufferLimit: 10 });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await post(real, new InProcessChatBus(), "room");
    await bus.publish({ kind: "message", message: first });
    await real.append("room", "alice", "never published");
    await post(real, bus, "room");
    expect((await iterator.next()).value).toMatchObject({ message: { sequence: 1n } });
    const failure = await iterator.next().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(UnavailableError);
    expect((failure as Error).message).toContain("resume with after_sequence 1");
  });
});
