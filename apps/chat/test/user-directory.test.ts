import { Pushable } from "@polyrpc/testing";
import { Code } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { chatV1, protoFiles, UserService } from "@polyrpc/proto";
import {
  CancelledError,
  DeadlineExceededError,
  NotFoundError,
  type ServerHandle,
  type ServiceHandlers,
  UnavailableError,
  createLogger,
  implementService,
  serverEnvSchema,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GrpcUserDirectory,
  UnknownUserError,
  UserServiceUnavailableError,
  type GrpcUserDirectoryOptions,
} from "../src/user-directory.js";
import {
  callError,
  requestsOf,
  startChatServer,
  startUserServiceProcess,
  StreamReader,
  streamError,
  type TestChatServer,
  type UserServiceProcess,
} from "./harness.js";

const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

const directories: GrpcUserDirectory[] = [];
function directory(address: string, options: Partial<GrpcUserDirectoryOptions> = {}): GrpcUserDirectory {
  const d = new GrpcUserDirectory({
    address,
    cacheTtlMs: 30_000,
    outageGraceMs: 600_000,
    lookupTimeoutMs: 2000,
    ...options,
  });
  directories.push(d);
  return d;
}
afterAll(() => {
  for (const d of directories) d.close();
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("GrpcUserDirectory against the real user service", () => {
  let users: UserServiceProcess;
  let alice: string;
  beforeAll(async () => {
    users = await startUserServiceProcess();
    alice = await users.createUser("alice");
  });
  afterAll(() => users.kill());

  it("resolves for an existing user", async () => {
    await expect(directory(users.target).ensureUser(alice, {})).resolves.toBeUndefined();
  });

  it("rejects an unknown user with UnknownUserError (NOT_FOUND)", async () => {
    const err = await rejection(directory(users.target).ensureUser("no-such-user", {}));
    expect(err).toBeInstanceOf(UnknownUserError);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe('user "no-such-user" not found');
  });

  it("trusts a confirmed user for the cache TTL, and asks again after it", async () => {
    const bob = await users.createUser("bob");
    const cached = directory(users.target, { cacheTtlMs: 60_000 });
    const uncached = directory(users.target, { cacheTtlMs: 0 });
    await cached.ensureUser(bob, {});
    await uncached.ensureUser(bob, {});
    await users.users.methods.deleteUser({ id: bob });
    await expect(cached.ensureUser(bob, {})).resolves.toBeUndefined();
    await expect(uncached.ensureUser(bob, {})).rejects.toThrow(UnknownUserError);
    // A user found deleted is no longer "known recently" either.
    expect(uncached.isKnownRecently(bob)).toBe(false);
    expect(cached.isKnownRecently(bob)).toBe(true);
  });

  it("reports UNAVAILABLE once the user service is gone, and remembers who it confirmed", async () => {
    const carol = await users.createUser("carol");
    const d = directory(users.target, { cacheTtlMs: 0 });
    await d.ensureUser(alice, {});
    await users.kill();
    const err = await rejection(d.ensureUser(carol, {}));
    expect(err).toBeInstanceOf(UserServiceUnavailableError);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe("the user service cannot be reached (UNAVAILABLE); try again");
    await expect(d.ensureUser(alice, {})).rejects.toThrow(UserServiceUnavailableError);
    expect(d.isKnownRecently(alice)).toBe(true);
    expect(d.isKnownRecently(carol)).toBe(false);
  });
});

describe("GrpcUserDirectory.isKnownRecently", () => {
  it("holds for the outage grace after the last confirmation, then lapses", async () => {
    let clock = 1_000_000;
    const fake = await startFakeUserService();
    try {
      const d = directory(fake.server.address, { cacheTtlMs: 0, outageGraceMs: 10_000, now: () => clock });
      expect(d.isKnownRecently("u-1")).toBe(false);
      await d.ensureUser("u-1", {});
      clock += 9_999;
      expect(d.isKnownRecently("u-1")).toBe(true);
      clock += 1;
      expect(d.isKnownRecently("u-1")).toBe(false);
    } finally {
      await fake.server.shutdown();
    }
  });
});

interface SeenLookup {
  id: string;
  traceparent: string | undefined;
  /** Milliseconds between the call's arrival and its deadline. */
  budgetMs: number | undefined;
}

/** Ids starting with this make the fake user service answer only after SLOW_MS. */
const SLOW = "slow-";
const SLOW_MS = 3000;

/** A UserService whose GetUser records what each lookup carried, and dawdles for `slow-` ids. */
async function startFakeUserService() {
  const seen: SeenLookup[] = [];
  const cancelled: string[] = [];
  const notHere = () => {
    throw new UnavailableError("not part of this test");
  };
  const getUser: ServiceHandlers<typeof UserService>["getUser"] = async (request, ctx) => {
    seen.push({
      id: request.id,
      traceparent: ctx.requestHeader.get("traceparent") ?? undefined,
      budgetMs: ctx.timeoutMs(),
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, request.id.startsWith(SLOW) ? SLOW_MS : 0);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        cancelled.push(request.id);
        reject(new CancelledError("cancelled"));
      });
    });
    if (request.id === "ghost") throw new NotFoundError(`user "${request.id}" not found`);
    return { id: request.id, username: "someone", email: "someone@example.com", roles: ["user"] };
  };
  // Only GetUser is called; the adapter still wants a handler for every method.
  const impl = {
    getUser,
    createUser: notHere,
    updateUser: notHere,
    deleteUser: notHere,
    listUsers: notHere,
    createUsers: notHere,
    chat: notHere,
  } as unknown as ServiceHandlers<typeof UserService>;
  const server: ServerHandle = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    services: [implementService(UserService, impl)],
    files: protoFiles,
    limits: serverEnvSchema.parse({ SHUTDOWN_DRAIN_MS: "0", SHUTDOWN_TIMEOUT_MS: "1000" }),
    log: createLogger({ name: "fake-user-service", level: "silent" }),
  });
  return { server, seen, cancelled };
}

describe("GrpcUserDirectory deadline and trace propagation", () => {
  let fake: Awaited<ReturnType<typeof startFakeUserService>>;
  const seen = (id: string) => fake.seen.find((s) => s.id === id);
  beforeAll(async () => {
    fake = await startFakeUserService();
  });
  afterAll(() => fake.server.shutdown());

  /** A directory whose channel is already connected, so short deadlines measure the lookup only. */
  async function warmDirectory(options: Partial<GrpcUserDirectoryOptions> = {}) {
    const d = directory(fake.server.address, { cacheTtlMs: 0, ...options });
    await d.ensureUser("warm-up", {});
    return d;
  }

  it("sends the caller's traceparent as gRPC metadata", async () => {
    await directory(fake.server.address).ensureUser("trace-me", { traceparent: TRACEPARENT });
    expect(seen("trace-me")?.traceparent).toBe(TRACEPARENT);
  });

  it("gives the lookup the smaller of the caller's remaining time and the lookup timeout", async () => {
    const d = await warmDirectory({ lookupTimeoutMs: 2000 });
    await d.ensureUser("patient", { timeoutMs: 60_000 });
    await d.ensureUser("hurried", { timeoutMs: 300 });
    await d.ensureUser("no-deadline", {});
    expect(seen("patient")?.budgetMs).toBeGreaterThan(1000);
    expect(seen("patient")?.budgetMs).toBeLessThanOrEqual(2000);
    expect(seen("hurried")?.budgetMs).toBeLessThanOrEqual(300);
    expect(seen("no-deadline")?.budgetMs).toBeLessThanOrEqual(2000);
  });

  it("fails with DeadlineExceededError when the caller's 50 ms run out first", async () => {
    const d = await warmDirectory();
    const started = Date.now();
    const err = await rejection(d.ensureUser(`${SLOW}late`, { timeoutMs: 50 }));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(err.message).toBe(`the deadline passed while checking user "${SLOW}late"`);
    expect(Date.now() - started).toBeLessThan(SLOW_MS / 2);
  });

  it("fails with UNAVAILABLE when the user service is slower than the lookup timeout", async () => {
    const d = await warmDirectory({ lookupTimeoutMs: 100 });
    const err = await rejection(d.ensureUser(`${SLOW}poke`, {}));
    expect(err).toBeInstanceOf(UserServiceUnavailableError);
    expect(err.message).toBe("the user service did not answer within 100 ms; try again");
  });

  it("fails at once when the caller's deadline has already passed", async () => {
    const err = await rejection(directory(fake.server.address).ensureUser("too-late", { timeoutMs: 0 }));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(seen("too-late")).toBeUndefined();
  });

  it("cancels the lookup when the caller cancels", async () => {
    const d = await warmDirectory();
    const controller = new AbortController();
    const pending = d.ensureUser(`${SLOW}walk-away`, { signal: controller.signal });
    await expect.poll(() => seen(`${SLOW}walk-away`)).toBeDefined();
    controller.abort();
    expect(await rejection(pending)).toBeInstanceOf(CancelledError);
    await expect.poll(() => fake.cancelled).toContain(`${SLOW}walk-away`);
  });

  describe("through the chat service", () => {
    let t: TestChatServer;
    beforeAll(async () => {
      t = await startChatServer({ users: await warmDirectory() });
    });
    afterAll(() => t.stop());

    it("hands a SendMessage's remaining time and traceparent to the user service", async () => {
      const err = await callError(
        t.client.sendMessage(
          { room: "deadline", userId: `${SLOW}traced`, text: "hi" },
          { timeoutMs: 400, headers: { traceparent: TRACEPARENT } },
        ),
      );
      expect(err.code).toBe(Code.DeadlineExceeded);
      expect(seen(`${SLOW}traced`)?.traceparent).toBe(TRACEPARENT);
      expect(seen(`${SLOW}traced`)?.budgetMs).toBeLessThanOrEqual(400);
      expect(await t.log.lastSequence("deadline")).toBe(0n);
    });

    it("fails a SendMessage with 50 ms left with DEADLINE_EXCEEDED and stores nothing", async () => {
      const started = Date.now();
      const err = await callError(
        t.client.sendMessage({ room: "deadline", userId: `${SLOW}in-a-hurry`, text: "hi" }, { timeoutMs: 50 }),
      );
      expect(err.code).toBe(Code.DeadlineExceeded);
      expect(Date.now() - started).toBeLessThan(SLOW_MS / 2);
      expect(await t.log.lastSequence("deadline")).toBe(0n);
    });
  });
});

describe("ChatService with the real user service through an outage", () => {
  let users: UserServiceProcess;
  let t: TestChatServer;
  let alice: string;
  let carol: string;
  beforeAll(async () => {
    users = await startUserServiceProcess();
    alice = await users.createUser("alice");
    carol = await users.createUser("carol");
    // No cache: every join and send asks the user service, so the outage rules are what is tested.
    t = await startChatServer({ users: directory(users.target, { cacheTtlMs: 0 }) });
  });
  afterAll(async () => {
    await t.stop();
    await users.kill();
  });

  it("refuses an unknown user with NOT_FOUND", async () => {
    const err = await callError(t.client.sendMessage({ room: "lobby", userId: "nobody", text: "hi" }));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe('user "nobody" not found');
  });

  it("keeps a joined member chatting while the user service is down, and refuses joins it cannot check", async () => {
    const requests = new Pushable<MessageInitShape<typeof chatV1.ChatRequestSchema>>();
    requests.push({ action: { case: "join", value: { room: "lobby", userId: alice } } });
    const chat = new StreamReader(t.client.chat(requests));
    expect((await chat.next()).event.case).toBe("joined");
    await chat.next(); // alice joined

    await users.kill();

    // A join the user service cannot vouch for: UNAVAILABLE.
    const join = await streamError(
      t.client.chat(requestsOf({ action: { case: "join", value: { room: "lobby", userId: carol } } })),
    );
    expect(join.code).toBe(Code.Unavailable);
    expect(join.rawMessage).toBe("the user service cannot be reached (UNAVAILABLE); try again");
    const send = await callError(t.client.sendMessage({ room: "lobby", userId: carol, text: "hello?" }));
    expect(send.code).toBe(Code.Unavailable);

    // Alice, already in the room, keeps chatting on her stream and with SendMessage.
    requests.push({ action: { case: "send", value: { text: "still here", clientMessageId: "s-1" } } });
    const answers = [await chat.next(), await chat.next()];
    expect(answers.map((a) => a.event.case).sort()).toEqual(["message", "sent"]);
    const sent = await t.client.sendMessage({ room: "lobby", userId: alice, text: "and here" });
    expect(sent.message?.sequence).toBe(2n);
    expect((await t.log.read("lobby", { limit: 10 })).map((m) => m.text)).toEqual(["still here", "and here"]);
    requests.end();
    await chat.end();
  });
});
