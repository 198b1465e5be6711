import { EventEmitter, on } from "node:events";
import { PassThrough, Readable } from "node:stream";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { chatV1, protoFiles } from "@polyrpc/proto";
import {
  InvalidArgumentError,
  NotFoundError,
  type ServerHandle,
  type ServiceHandlers,
  createLogger,
  implementService,
  serverEnvSchema,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../src/run-cli.js";

type ChatMessageInit = MessageInitShape<typeof chatV1.ChatMessageSchema>;

/** 12:00:01 local time, so that the CLI's local clock reads the same in every time zone. */
const SENT_AT = new Date(2026, 0, 2, 12, 0, 1);
/** The same instant in the protobuf JSON mapping, which leaves out zero fractions. */
const SENT_AT_JSON = SENT_AT.toISOString().replace(".000Z", "Z");

/**
 * A ChatService of one process: rooms in memory, users "ann" and "bob". Its Chat stream answers a
 * send with the message and then the acknowledgement, except for texts starting with "late:",
 * whose message never comes back (as when the stream ends before the room stream delivers it).
 */
function fakeChatService() {
  const rooms = new Map<string, ChatMessageInit[]>();
  const live = new EventEmitter();
  const users = new Set(["ann", "bob"]);
  const room = (name: string) => rooms.get(name) ?? rooms.set(name, []).get(name)!;
  const ensureUser = (userId: string) => {
    if (!users.has(userId)) throw new NotFoundError(`user "${userId}" not found`);
  };
  const store = (name: string, sender: string, text: string): ChatMessageInit => {
    if (text === "") throw new InvalidArgumentError("text must not be empty", "text");
    const messages = room(name);
    const message = {
      room: name,
      sender,
      text,
      sentAt: timestampFromDate(SENT_AT),
      sequence: BigInt(messages.length + 1),
    };
    messages.push(message);
    live.emit(name, message);
    return message;
  };
  const after = (name: string, sequence: bigint | undefined) =>
    sequence === undefined ? [] : room(name).filter((m) => m.sequence! > sequence);

  const impl: ServiceHandlers<typeof chatV1.ChatService> = {
    async *chat(requests) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.action.case !== "join")
        throw new InvalidArgumentError("the first request must be a join");
      const { room: name, userId, afterSequence } = first.value.action.value;
      ensureUser(userId);
      yield { event: { case: "joined", value: { room: name, lastSequence: BigInt(room(name).length) } } };
      yield { event: { case: "presence", value: { room: name, userId, kind: chatV1.PresenceKind.JOINED } } };
      for (const message of after(name, afterSequence)) yield { event: { case: "message", value: message } };
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const { action } = next.value;
        if (action.case !== "send") throw new InvalidArgumentError("a request must be a send");
        const message = store(name, userId, action.value.text);
        if (!action.value.text.startsWith("late:")) yield { event: { case: "message", value: message } };
        yield { event: { case: "sent", value: { message, clientMessageId: action.value.clientMessageId } } };
      }
    },
    async *subscribe(request, ctx) {
      const { room: name, userId, afterSequence } = request;
      if (userId !== "") {
        ensureUser(userId);
        yield { event: { case: "presence", value: { room: name, userId, kind: chatV1.PresenceKind.JOINED } } };
      }
      for (const message of after(name, afterSequence)) yield { event: { case: "message", value: message } };
      try {
        for await (const [message] of on(live, name, { signal: ctx.signal }))
          yield { event: { case: "message", value: message as ChatMessageInit } };
      } catch (err) {
        if (!ctx.signal.aborted) throw err;
      }
    },
    async sendMessage(request) {
      ensureUser(request.userId);
      return { message: store(request.room, request.userId, request.text) };
    },
    async getHistory(request) {
      const { cursor } = request;
      let messages = room(request.room);
      if (cursor.case === "beforeSequence") messages = messages.filter((m) => m.sequence! < cursor.value);
      const limit = request.limit || 50;
      messages =
        cursor.case === "afterSequence"
          ? messages.filter((m) => m.sequence! > cursor.value).slice(0, limit)
          : messages.slice(-limit);
      return { messages, lastSequence: BigInt(room(request.room).length) };
    },
  };
  return { impl, rooms };
}

describe("the chat commands against a ChatService", () => {
  let server: ServerHandle;
  let rooms: Map<string, ChatMessageInit[]>;

  /**
   * Starts the CLI in-process against the fake; `stdin` is a string, or a stream left to the test.
   * `printed` resolves once stdout contains `text`.
   */
  function start(argv: string[], stdin: string | NodeJS.ReadableStream = "") {
    let stdout = "";
    let stderr = "";
    const written = new EventEmitter();
    const done = runCli(["--chat-target", server.address, "--target", "127.0.0.1:1", ...argv], {
      stdout: { write: (text: string) => written.emit("text", (stdout += text)) },
      stderr: { write: (text: string) => (stderr += text) },
      stdin: typeof stdin === "string" ? Readable.from([stdin]) : stdin,
      env: {},
    }).then((code) => ({ code, stdout, stderr }));
    const printed = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!stdout.includes(text)) return;
          written.off("text", check);
          resolve();
        };
        written.on("text", check);
        check();
      });
    return { done, printed };
  }

  const run = (argv: string[], stdin: string | NodeJS.ReadableStream = "") => start(argv, stdin).done;

  beforeAll(async () => {
    const fake = fakeChatService();
    rooms = fake.rooms;
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [implementService(chatV1.ChatService, fake.impl)],
      files: protoFiles,
      limits: serverEnvSchema.parse({}),
      log: createLogger({ name: "chat-cli-test", level: "silent" }),
    });
  });

  beforeEach(() => rooms.clear());

  afterAll(() => server?.forceShutdown());

  it("sends a message and prints it as stored, or as protobuf JSON with --json", async () => {
    expect(await run(["chat", "send", "lobby", "--user", "ann", "hello", "there"])).toEqual({
      code: 0,
      stdout: "#1 12:00:01 ann: hello there\n",
      stderr: "",
    });
    const json = await run(["--json", "chat", "send", "lobby", "--user", "bob", "hi"]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      room: "lobby",
      sender: "bob",
      text: "hi",
      sentAt: SENT_AT_JSON,
      sequence: "2",
    });
  });

  it("reports the service's refusals with exit 1: empty text, unknown user", async () => {
    expect(await run(["chat", "send", "lobby", "--user", "ann", ""])).toEqual({
      code: 1,
      stdout: "",
      stderr: "error: INVALID_ARGUMENT: text must not be empty\n",
    });
    expect(await run(["chat", "send", "lobby", "--user", "ghost", "boo"])).toEqual({
      code: 1,
      stdout: "",
      stderr: 'error: NOT_FOUND: user "ghost" not found\n',
    });
  });

  it("joins, sends every non-blank stdin line, and exits 0 once the stream ends after stdin does", async () => {
    await run(["chat", "send", "lobby", "--user", "bob", "earlier"]);
    const result = await run(
      ["chat", "join", "lobby", "--user", "ann", "--after", "0"],
      "one\n\n   \ntwo\nlate: three\n",
    );
    expect(result).toEqual({
      code: 0,
      stdout: [
        "joined lobby as ann (last message #1)",
        "* ann joined",
        "#1 12:00:01 bob: earlier",
        "#2 12:00:01 ann: one",
        "#3 12:00:01 ann: two",
        // Acknowledged, but the stream ended before it came back: shown from the acknowledgement.
        "#4 12:00:01 ann: late: three",
        "",
      ].join("\n"),
      stderr: "",
    });
    expect(rooms.get("lobby")!.map((m) => m.text)).toEqual(["earlier", "one", "two", "late: three"]);
  });

  it("prints every Chat response as protobuf JSON with --json, acknowledgements included", async () => {
    const result = await run(["--json", "chat", "join", "lobby", "--user", "ann"], "hi\n");
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => Object.keys(line)[0])).toEqual(["joined", "presence", "message", "sent"]);
    expect(lines[0]).toEqual({ joined: { room: "lobby" } });
    expect(lines[1]).toEqual({ presence: { room: "lobby", userId: "ann", kind: "PRESENCE_KIND_JOINED" } });
    expect(lines[3]).toMatchObject({ sent: { clientMessageId: "1", message: { text: "hi", sequence: "1" } } });
  });

  it("fails a join of an unknown user with NOT_FOUND and exits although stdin stays open", async () => {
    const stdin = new PassThrough();
    const result = await run(["chat", "join", "lobby", "--user", "ghost"], stdin);
    expect(result).toEqual({ code: 1, stdout: "", stderr: 'error: NOT_FOUND: user "ghost" not found\n' });
    expect(stdin.listenerCount("data")).toBe(0);
  });

  it("subscribes, replays from --after and stops after --count messages, live ones included", async () => {
    await run(["chat", "send", "lobby", "--user", "ann", "first"]);
    await run(["chat", "send", "lobby", "--user", "bob", "second"]);
    const subscribed = start(["chat", "subscribe", "lobby", "--user", "bob", "--after", "1", "--count", "2"]);
    // The third message is live: send it once the subscriber has seen the replay.
    await subscribed.printed("bob: second");
    await run(["chat", "send", "lobby", "--user", "ann", "third"]);
    expect(await subscribed.done).toEqual({
      code: 0,
      stdout: "* bob joined\n#2 12:00:01 bob: second\n#3 12:00:01 ann: third\n",
      stderr: "",
    });

    const json = await run(["--json", "chat", "subscribe", "lobby", "--after", "0", "--count", "3"]);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as { message: { sequence: string } });
    expect(lines.map((line) => line.message.sequence)).toEqual(["1", "2", "3"]);
  });

  it("reads the history: the latest, before or after a sequence, with a limit", async () => {
    for (const text of ["a", "b", "c", "d"]) await run(["chat", "send", "lobby", "--user", "ann", text]);
    const texts = async (...argv: string[]) => {
      const result = await run(["chat", "history", "lobby", ...argv]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout;
    };
    expect(await texts("--limit", "2")).toBe("#3 12:00:01 ann: c\n#4 12:00:01 ann: d\n");
    expect(await texts("--before", "3", "--limit", "1")).toBe("#2 12:00:01 ann: b\n");
    expect(await texts("--after", "3")).toBe("#4 12:00:01 ann: d\n");
    expect(await texts("--after", "4")).toBe("no messages there (the last in lobby is #4)\n");
    expect((await run(["chat", "history", "empty"])).stdout).toBe("no messages in empty yet\n");

    const json = await run(["--json", "chat", "history", "lobby", "--limit", "1"]);
    expect(JSON.parse(json.stdout)).toEqual({
      messages: [{ room: "lobby", sender: "ann", text: "d", sentAt: SENT_AT_JSON, sequence: "4" }],
      lastSequence: "4",
    });
  });

  it("exits 1 with UNAVAILABLE when no ChatService listens at --chat-target", async () => {
    let stderr = "";
    const code = await runCli(["--chat-target", "127.0.0.1:1", "--timeout", "2000", "chat", "history", "lobby"], {
      stdout: { write: () => true },
      stderr: { write: (text: string) => (stderr += text) },
      stdin: Readable.from([]),
      env: {},
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: UNAVAILABLE: /);
  });
});
