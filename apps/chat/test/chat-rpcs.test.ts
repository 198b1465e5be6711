import { Pushable } from "@polyrpc/testing";
import { Code, type ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { chatV1 } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callError,
  FakeUserDirectory,
  range,
  requestsOf,
  sequencesOf,
  startChatServer,
  StreamReader,
  streamError,
  type Protocol,
  type StorageKind,
  type TestChatServer,
} from "./harness.js";

type ChatRequestInit = MessageInitShape<typeof chatV1.ChatRequestSchema>;

let roomCounter = 0;
/** A fresh room per test, so presence and sequences never leak between tests. */
const newRoom = () => `room-${++roomCounter}`;

const join = (room: string, userId: string, afterSequence?: bigint): ChatRequestInit => ({
  action: { case: "join", value: { room, userId, afterSequence } },
});
const send = (text: string, clientMessageId = ""): ChatRequestInit => ({
  action: { case: "send", value: { text, clientMessageId } },
});

/** A short description of a chat or subscribe response, for order assertions. */
function describeEvent(r: chatV1.ChatResponse | chatV1.SubscribeResponse): string {
  switch (r.event.case) {
    case "joined":
      return `joined ${r.event.value.room}@${r.event.value.lastSequence}`;
    case "message":
      return `message ${r.event.value.sequence} ${r.event.value.sender}: ${r.event.value.text}`;
    case "presence":
      return `${r.event.value.userId} ${r.event.value.kind === chatV1.PresenceKind.JOINED ? "joined" : "left"}`;
    case "sent":
      return `sent ${r.event.value.message?.sequence} #${r.event.value.clientMessageId}`;
    default:
      return "empty";
  }
}

/** Opens a bidi Chat as `userId` in `room` and reads the `joined` answer. */
async function openChat(t: TestChatServer, room: string, userId: string, afterSequence?: bigint) {
  const requests = new Pushable<ChatRequestInit>();
  requests.push(join(room, userId, afterSequence));
  const reader = new StreamReader(t.client.chat(requests));
  const joined = await reader.next();
  return { requests, reader, joined };
}

// One suite, run over each protocol the chat speaks (HTTP/2, where all three can stream both
// ways; Connect in binary and in JSON, whose streams do not share the live events' encoding),
// and over SQLite on disk as well as in memory, and PostgreSQL (its log and LISTEN/NOTIFY bus).
// Every case must give the same results.
const matrix: Array<[StorageKind, Protocol]> = [
  ["memory", "grpc"],
  ["memory", "grpc-web"],
  ["memory", "connect"],
  ["memory", "connect-json"],
  ["disk", "grpc"],
  ["postgres", "grpc"],
];

describe.each(matrix)("ChatService on %s storage over %s", (storage, protocol) => {
  let t: TestChatServer;
  let users: FakeUserDirectory;
  beforeAll(async () => {
    users = new FakeUserDirectory(["alice", "bob", "carol"]);
    t = await startChatServer({ storage, users, protocol });
  });
  afterAll(() => t.stop());

  describe("SendMessage", () => {
    it("stores the message and returns it with the room's next sequence and the server's time", async () => {
      const room = newRoom();
      const before = Date.now();
      const first = await t.client.sendMessage({ room, userId: "alice", text: "hello" });
      const second = await t.client.sendMessage({ room, userId: "bob", text: "hi alice" });
      expect(first.message).toMatchObject({ room, sender: "alice", text: "hello", sequence: 1n });
      expect(second.message).toMatchObject({ room, sender: "bob", text: "hi alice", sequence: 2n });
      const sentAt = timestampDate(first.message!.sentAt!).getTime();
      expect(sentAt).toBeGreaterThanOrEqual(before - 1);
      expect(sentAt).toBeLessThanOrEqual(Date.now() + 1);
      expect(await t.log.lastSequence(room)).toBe(2n);
    });

    it("accepts exactly 4,096 characters, counting code points rather than UTF-16 units", async () => {
      const room = newRoom();
      const emoji = "🙂".repeat(4096); // 8,192 UTF-16 units, 4,096 characters
      const response = await t.client.sendMessage({ room, userId: "alice", text: emoji });
      expect(response.message?.text).toBe(emoji);
    });

    const pattern = "does not match regex pattern `^[A-Za-z0-9_.-]+$`";
    it.each<[string, Partial<{ room: string; userId: string; text: string }>, string]>([
      ["an empty text", { text: "" }, "text: value is required"],
      ["a 4,097-character text", { text: "x".repeat(4097) }, "text: must be at most 4096 characters"],
      ["4,097 emoji", { text: "🙂".repeat(4097) }, "text: must be at most 4096 characters"],
      ["an empty room", { room: "" }, "room: value is required"],
      ["a room with a space", { room: "no spaces" }, `room: ${pattern}`],
      ["a 65-character room", { room: "r".repeat(65) }, "room: must be at most 64 characters"],
      ["a room with a non-ASCII letter", { room: "émoji" }, `room: ${pattern}`],
      ["a missing user_id", { userId: "" }, "user_id: value is required"],
    ])("refuses %s with INVALID_ARGUMENT and stores nothing", async (_what, change, message) => {
      const room = newRoom();
      const err = await callError(t.client.sendMessage({ room, userId: "alice", text: "ok", ...change }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe(message);
      expect(await t.log.lastSequence(room)).toBe(0n);
    });

    it("refuses an unknown user with NOT_FOUND and stores nothing", async () => {
      const room = newRoom();
      const err = await callError(t.client.sendMessage({ room, userId: "mallory", text: "hi" }));
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe('user "mallory" not found');
      expect(await t.log.lastSequence(room)).toBe(0n);
    });

    it("hands the caller's deadline, cancellation and traceparent to the user lookup", async () => {
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      users.calls.length = 0;
      await t.client.sendMessage(
        { room: newRoom(), userId: "alice", text: "traced" },
        { timeoutMs: 3000, headers: { traceparent } },
      );
      expect(users.calls).toHaveLength(1);
      const { call } = users.calls[0]!;
      expect(call.traceparent).toBe(traceparent);
      expect(call.timeoutMs).toBeGreaterThan(2000);
      expect(call.timeoutMs).toBeLessThanOrEqual(3000);
      expect(call.signal).toBeInstanceOf(AbortSignal);
    });
  });

  describe("GetHistory", () => {
    let room: string;
    beforeAll(async () => {
      room = newRoom();
      for (let i = 1; i <= 120; i++) await t.log.append(room, i % 2 ? "alice" : "bob", `m${i}`);
    });

    it("returns the latest 50 messages, oldest first, with the last sequence", async () => {
      const history = await t.client.getHistory({ room });
      expect(history.messages.map((m) => m.sequence)).toEqual(range(71, 120));
      expect(history.lastSequence).toBe(120n);
      expect(history.messages[0]).toMatchObject({ room, sender: "alice", text: "m71" });
    });

    it("returns the closest messages before or after a sequence", async () => {
      const before = await t.client.getHistory({ room, cursor: { case: "beforeSequence", value: 11n }, limit: 5 });
      expect(before.messages.map((m) => m.sequence)).toEqual(range(6, 10));
      const after = await t.client.getHistory({ room, cursor: { case: "afterSequence", value: 115n }, limit: 50 });
      expect(after.messages.map((m) => m.sequence)).toEqual(range(116, 120));
      expect(after.lastSequence).toBe(120n);
    });

    it("clamps a limit above 500 to 500", async () => {
      const big = newRoom();
      for (let i = 0; i < 510; i++) await t.log.append(big, "alice", `m${i}`);
      const history = await t.client.getHistory({
        room: big,
        cursor: { case: "afterSequence", value: 0n },
        limit: 10_000,
      });
      expect(history.messages).toHaveLength(500);
      expect(history.messages.at(-1)?.sequence).toBe(500n);
      expect(history.lastSequence).toBe(510n);
    });

    it("answers an empty room with no messages and last sequence 0, and refuses a bad room", async () => {
      expect(await t.client.getHistory({ room: newRoom() })).toMatchObject({ messages: [], lastSequence: 0n });
      expect((await callError(t.client.getHistory({ room: "bad room" }))).code).toBe(Code.InvalidArgument);
    });
  });

  describe("Chat", () => {
    it("lets two members talk, acknowledging each send after storing it, with presence", async () => {
      const room = newRoom();
      await t.client.sendMessage({ room, userId: "carol", text: "before anyone joined" });
      const alice = await openChat(t, room, "alice");
      expect(describeEvent(alice.joined)).toBe(`joined ${room}@1`);
      expect(describeEvent(await alice.reader.next())).toBe("alice joined");

      const bob = await openChat(t, room, "bob");
      expect(describeEvent(bob.joined)).toBe(`joined ${room}@1`);
      expect(describeEvent(await bob.reader.next())).toBe("bob joined");
      expect(describeEvent(await alice.reader.next())).toBe("bob joined");

      alice.requests.push(send("hi bob", "a-1"));
      // The sender gets the ack and the message itself, in either order.
      const aliceSees = (await alice.reader.take(2)).map(describeEvent).sort();
      expect(aliceSees).toEqual(["message 2 alice: hi bob", "sent 2 #a-1"]);
      expect(describeEvent(await bob.reader.next())).toBe("message 2 alice: hi bob");

      bob.requests.push(send("hi alice", "b-1"));
      expect((await bob.reader.take(2)).map(describeEvent).sort()).toEqual(["message 3 bob: hi alice", "sent 3 #b-1"]);
      expect(describeEvent(await alice.reader.next())).toBe("message 3 bob: hi alice");

      // Bob half-closes: his stream ends cleanly and alice hears that he left.
      bob.requests.end();
      expect((await bob.reader.end()).error).toBeUndefined();
      expect(describeEvent(await alice.reader.next())).toBe("bob left");
      expect((await t.log.read(room, { limit: 10 })).map((m) => `${m.sequence} ${m.sender}: ${m.text}`)).toEqual([
        "1 carol: before anyone joined",
        "2 alice: hi bob",
        "3 bob: hi alice",
      ]);
      alice.requests.end();
      await alice.reader.end();
    });

    it("answers every send before ending when the client half-closes right after sending", async () => {
      const room = newRoom();
      const requests = [join(room, "alice"), ...Array.from({ length: 20 }, (_, i) => send(`m${i}`, `c${i}`))];
      const responses: chatV1.ChatResponse[] = [];
      for await (const response of t.client.chat(requestsOf(...requests))) responses.push(response);
      const acks = responses.flatMap((r) => (r.event.case === "sent" ? [r.event.value] : []));
      expect(acks.map((a) => a.clientMessageId)).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
      expect(acks.map((a) => a.message?.sequence)).toEqual(range(1, 20));
      expect(await t.log.lastSequence(room)).toBe(20n);
    });

    it("replays the stored messages after after_sequence on join, then live ones", async () => {
      const room = newRoom();
      for (let i = 1; i <= 5; i++) await t.client.sendMessage({ room, userId: "carol", text: `m${i}` });
      const alice = await openChat(t, room, "alice", 2n);
      expect(describeEvent(alice.joined)).toBe(`joined ${room}@5`);
      const replay = await alice.reader.take(4);
      expect(sequencesOf(replay)).toEqual(range(3, 5));
      expect(replay.map(describeEvent)).toContain("alice joined");
      await t.client.sendMessage({ room, userId: "carol", text: "m6" });
      expect(describeEvent(await alice.reader.next())).toBe("message 6 carol: m6");
      alice.requests.end();
      await alice.reader.end();
    });

    it.each<[string, ChatRequestInit[], string]>([
      ["a first request that is a send", [send("hi")], "the first request must be a join"],
      ["no request at all", [], "the first request must be a join"],
      ["a bad room", [join("bad room!", "alice")], "join.room: does not match regex pattern `^[A-Za-z0-9_.-]+$`"],
      ["a missing user_id", [join("ok", "")], "join.user_id: value is required"],
    ])("refuses %s with INVALID_ARGUMENT", async (_what, requests, message) => {
      const err = await streamError(t.client.chat(requestsOf(...requests)));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe(message);
    });

    it.each([
      ["an empty text", "", "send.text: value is required"],
      ["a 4,097-character text", "y".repeat(4097), "send.text: must be at most 4096 characters"],
    ])(
      "ends the stream with INVALID_ARGUMENT for %s, stores nothing, and announces the leave",
      async (_what, text, message) => {
        const room = newRoom();
        const bob = await openChat(t, room, "bob");
        await bob.reader.next(); // bob joined
        const alice = await openChat(t, room, "alice");
        alice.requests.push(send(text));
        const { error } = await alice.reader.end();
        expect(error?.code).toBe(Code.InvalidArgument);
        expect(error?.rawMessage).toBe(message);
        expect((await bob.reader.take(2)).map(describeEvent)).toEqual(["alice joined", "alice left"]);
        expect(await t.log.lastSequence(room)).toBe(0n);
        bob.requests.end();
        await bob.reader.end();
      },
    );

    it("refuses a second join on the same stream with INVALID_ARGUMENT", async () => {
      const alice = await openChat(t, newRoom(), "alice");
      alice.requests.push(join(newRoom(), "alice"));
      const { error } = await alice.reader.end();
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toBe("this stream has already joined a room; open another stream to join again");
    });

    it("refuses an unknown user with NOT_FOUND", async () => {
      const err = await streamError(t.client.chat(requestsOf(join(newRoom(), "mallory"))));
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe('user "mallory" not found');
    });

    it("refuses an after_sequence beyond the room's last message with INVALID_ARGUMENT", async () => {
      const err = await streamError(t.client.chat(requestsOf(join(newRoom(), "alice", 7n))));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(/^after_sequence 7 is beyond the last message of room/);
    });

    it("announces the leave when the client cancels", async () => {
      const room = newRoom();
      const bob = await openChat(t, room, "bob");
      await bob.reader.next();
      const controller = new AbortController();
      const requests = new Pushable<ChatRequestInit>();
      requests.push(join(room, "alice"));
      const alice = new StreamReader(t.client.chat(requests, { signal: controller.signal }));
      await alice.next();
      expect(describeEvent(await bob.reader.next())).toBe("alice joined");
      controller.abort();
      expect(describeEvent(await bob.reader.next())).toBe("alice left");
      bob.requests.end();
      await bob.reader.end();
    });
  });

  describe("Subscribe", () => {
    it("announces a named subscriber and streams messages sent with SendMessage", async () => {
      const room = newRoom();
      const watcher = new StreamReader(t.client.subscribe({ room, userId: "carol" }));
      expect(describeEvent(await watcher.next())).toBe("carol joined");
      await t.client.sendMessage({ room, userId: "alice", text: "one" });
      await t.client.sendMessage({ room, userId: "bob", text: "two" });
      expect((await watcher.take(2)).map(describeEvent)).toEqual(["message 1 alice: one", "message 2 bob: two"]);
      await watcher.cancel();
    });

    it("replays from after_sequence for an anonymous watcher without announcing it", async () => {
      const room = newRoom();
      for (let i = 1; i <= 3; i++) await t.client.sendMessage({ room, userId: "alice", text: `m${i}` });
      const alice = await openChat(t, room, "alice");
      await alice.reader.next();
      const watcher = new StreamReader(t.client.subscribe({ room, afterSequence: 1n }));
      expect(sequencesOf(await watcher.take(2))).toEqual(range(2, 3));
      alice.requests.push(send("m4"));
      await alice.reader.take(2);
      expect(describeEvent(await watcher.next())).toBe("message 4 alice: m4");
      // Nobody heard of the watcher.
      alice.requests.end();
      const { rest } = await alice.reader.end();
      expect(rest.map(describeEvent)).toEqual([]);
      await watcher.cancel();
    });

    it("refuses a bad room and an unknown named user", async () => {
      expect((await streamError(t.client.subscribe({ room: "" }))).code).toBe(Code.InvalidArgument);
      const err: ConnectError = await streamError(t.client.subscribe({ room: newRoom(), userId: "mallory" }));
      expect(err.code).toBe(Code.NotFound);
    });
  });
});
