import {
  connectChatService,
  connectUserService,
  type ChatServiceClient,
  type UserServiceClient,
} from "@polyrpc/client";
import { metricsUrlOf, openHeldStreams, Pushable, watchCallsInFlight } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectInspector, INSPECTOR_ENV } from "./inspector-session.js";
import { memoryOf, resetPeak, settledRss } from "./process-memory.js";
import { killAll, startChatApp, startUserService, type ServiceProcess } from "./processes.js";
import { RoomDeliveryCheck } from "./room-delivery.js";

/**
 * The load lines of ../shared TESTS.md against the real user service (grpc-js) and chat
 * (connect-node) processes: L2 (1,000 concurrent unary calls on one channel, and memory after),
 * L3 (150 streams on one connection with the 100-stream cap) and L4 (200 chat streams for 60 s).
 */

/** The items of a request stream. */
type ItemOf<S> = S extends AsyncIterable<infer T> ? T : S extends Iterable<infer T> ? T : never;
/** A ChatService.Chat request, as the client takes it. */
type ChatRequestInit = ItemOf<Parameters<ChatServiceClient["methods"]["chat"]>[0]>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every call here comes from one anonymous caller, which the per-caller rate limits (100 unary
 * calls and 20 new streams a second) would refuse long before any load line; the limits have
 * their own tests (S4). The per-stream message limit stays on. Metrics are on, on a free port:
 * L3 reads the calls in flight from them.
 */
const LOAD_ENV = {
  DATABASE_PATH: ":memory:",
  RATE_LIMIT_UNARY_PER_S: "0",
  RATE_LIMIT_STREAMS_PER_S: "0",
  METRICS_ENABLED: "true",
  METRICS_PORT: "0",
};

/** The servers' default HTTP/2 stream cap per connection (MAX_CONCURRENT_STREAMS). */
const STREAM_CAP = 100;

const join = (room: string, userId: string): ChatRequestInit => ({
  action: { case: "join", value: { room, userId } },
});
const send = (text: string, clientMessageId: string): ChatRequestInit => ({
  action: { case: "send", value: { text, clientMessageId } },
});

let userService: ServiceProcess;
let chat: ServiceProcess;
let users: UserServiceClient;
/** A user every L2 and L3 call names. */
let userId: string;
/** Seeded messages of the room the chat's L2 GetHistory calls read. */
const L2_HISTORY = 20;
/** L4's members: 10 rooms of 20. */
const L4_ROOMS = 10;
const L4_MEMBERS_PER_ROOM = 20;
let members: string[];

beforeAll(async () => {
  // Their inspectors are open so that L2 can collect their garbage before it reads their memory.
  userService = await startUserService({ ...LOAD_ENV, ...INSPECTOR_ENV });
  chat = await startChatApp({ ...LOAD_ENV, ...INSPECTOR_ENV, USER_SERVICE_ADDRESS: userService.target });
  users = connectUserService(userService.target);
  const created = await users.methods.createUsers(
    Array.from({ length: 1 + L4_ROOMS * L4_MEMBERS_PER_ROOM }, (_, i) => ({
      username: `load${i}`,
      email: `load${i}@example.com`,
      password: "correct horse",
    })),
  );
  [userId, ...members] = created.users.map((user) => user.id) as [string, ...string[]];
  const sender = connectChatService(chat.target);
  try {
    for (let i = 1; i <= L2_HISTORY; i++) {
      await sender.methods.sendMessage({ room: "l2", userId, text: `history ${i}` });
    }
  } finally {
    sender.close();
  }
}, 60_000);

afterAll(async () => {
  users?.close();
  await Promise.all([chat?.stop(), userService?.stop()]);
  killAll();
});

/** Each unary burst: the calls in flight at once on one channel. */
const L2_CALLS = 1000;
/** Bursts per runtime: memory must come back after each, not climb from one to the next. */
const L2_BURSTS = 5;
/**
 * How far above its baseline a server's RSS may be after a burst and a full collection. The
 * measured difference is a few MiB either way (malloc keeps some freed memory); 50 MiB is far
 * below what 1,000 leaked calls would hold (each keeps its request, response and HTTP/2 stream
 * state: 50 KiB or more, so 50 MiB per burst).
 */
const L2_RSS_MARGIN_MIB = 50;
/** How much the RSS after a collection may rise from the first burst to the last. */
const L2_RSS_CLIMB_MIB = 20;
/**
 * How much the live JavaScript heap (after a full collection) may grow from the first burst to
 * the last: a leak of 1 KiB per call would add 3.9 MiB over the 4,000 calls in between; measured
 * noise is under 1 MiB.
 */
const L2_HEAP_CLIMB_MIB = 4;

describe.each([
  {
    runtime: "grpc-js (user service)",
    server: () => userService,
    connect: () => {
      const client = connectUserService(userService.target);
      return {
        call: async () => expect((await client.methods.getUser({ id: userId })).id).toBe(userId),
        close: () => client.close(),
      };
    },
  },
  {
    runtime: "connect-node (chat)",
    server: () => chat,
    connect: () => {
      const client = connectChatService(chat.target);
      return {
        call: async () =>
          expect((await client.methods.getHistory({ room: "l2", limit: 50 })).messages).toHaveLength(L2_HISTORY),
        close: () => client.close(),
      };
    },
  },
])("L2 on $runtime", ({ runtime, server, connect }) => {
  it(`answers ${L2_CALLS.toLocaleString("en")} concurrent unary calls on one channel, ${L2_BURSTS} times, and its memory comes back each time`, async () => {
    const pid = server().child.pid!;
    const inspector = await connectInspector(server());
    const client = connect();
    try {
      // One call first, so that the channel is connected; then the baseline, after a full collection.
      await client.call();
      await inspector.collectGarbage();
      const baseline = { rss: memoryOf(pid).rss, heap: await inspector.heapUsedMib() };
      const bound = baseline.rss + L2_RSS_MARGIN_MIB;
      const bursts: Array<{ ok: number; failed: string[]; peak: number; rss: number; heap: number }> = [];
      for (let burst = 0; burst < L2_BURSTS; burst++) {
        resetPeak(pid);
        const results = await Promise.allSettled(Array.from({ length: L2_CALLS }, () => client.call()));
        const failed = results
          .filter((r): r is PromiseRejectedResult => r.status === "rejected")
          .map((r) => String(r.reason));
        const peak = memoryOf(pid).peak;
        // Without a collection the heap stays as the burst left it: V8 collects when it next
        // allocates, and an idle server does not (its RSS stayed at the peak for 15 s, measured).
        await inspector.collectGarbage();
        const rss = await settledRss(pid, bound, 5000);
        bursts.push({ ok: results.length - failed.length, failed, peak, rss, heap: await inspector.heapUsedMib() });
      }
      console.log(
        `L2 ${runtime}: baseline RSS ${baseline.rss.toFixed(1)} MiB, heap ${baseline.heap.toFixed(1)} MiB; ` +
          bursts
            .map(
              (b, i) =>
                `burst ${i + 1}: ${b.ok} OK, peak RSS ${b.peak.toFixed(1)}, after ${b.rss.toFixed(1)}, heap ${b.heap.toFixed(1)}`,
            )
            .join("; "),
      );
      for (const { ok, failed, rss } of bursts) {
        expect(failed.slice(0, 5)).toEqual([]);
        expect(ok).toBe(L2_CALLS);
        expect(rss, "RSS in MiB after the burst and a collection").toBeLessThanOrEqual(bound);
      }
      const [first, last] = [bursts[0]!, bursts.at(-1)!];
      expect(last.rss - first.rss, "RSS climb in MiB from the first burst to the last").toBeLessThan(L2_RSS_CLIMB_MIB);
      expect(last.heap - first.heap, "heap climb in MiB from the first burst to the last").toBeLessThan(
        L2_HEAP_CLIMB_MIB,
      );
    } finally {
      client.close();
      inspector.close();
    }
  }, 120_000);
});

/** L3: streams opened at once on one connection, against the cap of 100. */
const L3_STREAMS = 150;

describe.each([
  {
    runtime: "grpc-js (user service)",
    server: () => userService,
    method: ["user.UserService", "Chat"] as const,
    /** UserService.Chat echoes each message: the echo of the first is the stream's answer. */
    openStreams: () => {
      const client = connectUserService(userService.target);
      const held = openHeldStreams({
        count: L3_STREAMS,
        firstRequest: (i) => ({ userId, text: `held ${i}` }),
        open: (_, requests) => client.methods.chat(requests),
      });
      return { held, close: () => client.close() };
    },
  },
  {
    runtime: "connect-node (chat)",
    server: () => chat,
    method: ["chat.v1.ChatService", "Chat"] as const,
    /** ChatService.Chat answers a join with `joined`; half-closing ends it OK. */
    openStreams: () => {
      const client = connectChatService(chat.target);
      const held = openHeldStreams<ChatRequestInit>({
        count: L3_STREAMS,
        // A room each, so that no stream hears of the others' presence.
        firstRequest: (i) => join(`l3-${i}`, userId),
        open: (_, requests) => client.methods.chat(requests),
      });
      return { held, close: () => client.close() };
    },
  },
])("L3 on $runtime", ({ server, method, openStreams }) => {
  it(`serves ${STREAM_CAP} of ${L3_STREAMS} streams opened at once on one connection, lets the rest wait for a free stream, and completes all ${L3_STREAMS}`, async () => {
    const inFlight = watchCallsInFlight(metricsUrlOf(server()), method[0], method[1]);
    // One channel to one address: one HTTP/2 connection, whose SETTINGS say 100 streams at most.
    const { held, close } = openStreams();
    try {
      await held.whenAnswered(STREAM_CAP, 30_000);
      // Time for a 101st stream to be served, were the cap not held: none is, and none failed.
      await sleep(1000);
      expect(held.failures).toEqual([]);
      expect(held.answered).toBe(STREAM_CAP);
      expect(await inFlight.current(), "calls the server is running").toBe(STREAM_CAP);

      // Ending one stream lets exactly one waiting stream in.
      const first = await held.releaseOne();
      expect(first.error).toBeUndefined();
      await held.whenAnswered(STREAM_CAP + 1, 10_000);
      await sleep(500);
      expect(held.answered).toBe(STREAM_CAP + 1);
      expect(await inFlight.current(), "calls the server is running").toBe(STREAM_CAP);

      const outcomes = await held.releaseAll();
      const maxInFlight = await inFlight.stop();
      console.log(
        `L3 ${method.join("/")}: ${outcomes.filter((o) => o.error === undefined).length}/${L3_STREAMS} completed OK; ` +
          `at most ${maxInFlight} running on the server (metrics), ${held.maxServedAtOnce} served at once (client)`,
      );
      expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
      expect(outcomes.every((o) => o.responses > 0)).toBe(true);
      expect(maxInFlight).toBe(STREAM_CAP);
      expect(held.maxServedAtOnce).toBeLessThanOrEqual(STREAM_CAP);
      // The server's counters agree that every stream ended (counted as its status goes out, so
      // possibly a moment after the client has it).
      let running = await inFlight.current();
      for (const until = Date.now() + 5000; running !== 0 && Date.now() < until; running = await inFlight.current()) {
        await sleep(50);
      }
      expect(running, "calls the server is running").toBe(0);
    } finally {
      await inFlight.stop();
      close();
    }
  }, 90_000);
});

/** L4: how long members keep sending, and how often each sends. */
const L4_SENDING_MS = 60_000;
const L4_SEND_INTERVAL_MS = 500;
const L4_MESSAGES_PER_MEMBER = L4_SENDING_MS / L4_SEND_INTERVAL_MS;

describe("L4 on connect-node (chat)", () => {
  it(`delivers every message of ${L4_ROOMS} rooms x ${L4_MEMBERS_PER_ROOM} members chatting for 60 s to every member, once and in order`, async () => {
    const rooms = Array.from({ length: L4_ROOMS }, (_, r) => {
      const roomMembers = members.slice(r * L4_MEMBERS_PER_ROOM, (r + 1) * L4_MEMBERS_PER_ROOM);
      return { name: `l4-${r}`, members: roomMembers, check: new RoomDeliveryCheck(`l4-${r}`, roomMembers) };
    });
    // A channel per room of its own (not grpc-js's shared subchannel): 10 connections of 20
    // streams, under the cap of 100 streams per connection.
    const clients = rooms.map(() =>
      connectChatService(chat.target, { channelOptions: { "grpc.use_local_subchannel_pool": 1 } }),
    );
    try {
      let joined = 0;
      const streams = rooms.flatMap((room, r) =>
        room.members.map((member) => {
          const requests = new Pushable<ChatRequestInit>();
          requests.push(join(room.name, member));
          let acknowledged = 0;
          const ended = (async () => {
            for await (const response of clients[r]!.methods.chat(requests)) {
              const { event } = response;
              if (event.case === "joined") joined++;
              else if (event.case === "sent") acknowledged++;
              else if (event.case === "message") {
                room.check.record(member, {
                  sequence: Number(event.value.sequence),
                  sender: event.value.sender,
                  number: Number(event.value.text.slice(1)),
                });
              }
            }
          })().then(
            () => undefined,
            (err: Error) => `${member} in ${room.name}: ${err.message}`,
          );
          return { room, member, requests, ended, acknowledged: () => acknowledged };
        }),
      );
      const joinDeadline = Date.now() + 30_000;
      while (joined < streams.length && Date.now() < joinDeadline) await sleep(50);
      expect(joined, "streams joined").toBe(streams.length);

      // Every member sends "#1", "#2", ... at a steady rate for exactly L4_SENDING_MS, each at its own phase.
      const start = Date.now() + 100;
      await Promise.all(
        streams.map(async ({ room, member, requests }) => {
          const phase = Math.random() * L4_SEND_INTERVAL_MS;
          for (let n = 1; n <= L4_MESSAGES_PER_MEMBER; n++) {
            await sleep(start + phase + (n - 1) * L4_SEND_INTERVAL_MS - Date.now());
            requests.push(send(`#${n}`, String(n)));
            room.check.sent(member, n);
          }
        }),
      );
      const sendingMs = Date.now() - start;

      // Then wait until every member has everything, or give up after 30 s and count what is missing.
      const expectedPerMember = L4_MEMBERS_PER_ROOM * L4_MESSAGES_PER_MEMBER;
      const everyoneHasAll = () =>
        streams.every(({ room, member }) => room.check.receivedBy(member) >= expectedPerMember);
      const drainDeadline = Date.now() + 30_000;
      while (!everyoneHasAll() && Date.now() < drainDeadline) await sleep(100);
      for (const { requests } of streams) requests.end();
      const failures = (await Promise.all(streams.map((s) => s.ended))).filter((f) => f !== undefined);

      const summaries = rooms.map((room) => room.check.summary());
      const sent = summaries.reduce((total, s) => total + s.sent, 0);
      const delivered = summaries.reduce((total, s) => total + s.delivered, 0);
      console.log(
        `L4: ${streams.length} streams sent ${sent} messages over ${(sendingMs / 1000).toFixed(1)} s; ` +
          `${delivered} deliveries (expected ${sent * L4_MEMBERS_PER_ROOM}); per room: ` +
          summaries
            .map((s) => `${s.room} ${s.sent}/${s.delivered} lost ${s.lost} dup ${s.duplicated} reord ${s.reordered}`)
            .join(", "),
      );
      expect(failures).toEqual([]);
      for (const summary of summaries) {
        expect(summary).toEqual({
          room: summary.room,
          members: L4_MEMBERS_PER_ROOM,
          sent: L4_MEMBERS_PER_ROOM * L4_MESSAGES_PER_MEMBER,
          delivered: L4_MEMBERS_PER_ROOM * L4_MEMBERS_PER_ROOM * L4_MESSAGES_PER_MEMBER,
          lost: 0,
          duplicated: 0,
          reordered: 0,
          sequenceBreaks: 0,
          mismatched: 0,
        });
      }
      // And every send was acknowledged to its sender.
      expect(streams.filter((s) => s.acknowledged() !== L4_MESSAGES_PER_MEMBER).map((s) => s.member)).toEqual([]);
    } finally {
      for (const client of clients) client.close();
    }
  }, 150_000);
});
