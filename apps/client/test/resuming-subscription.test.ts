import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { chatV1, protoFiles } from "@polyrpc/proto";
import {
  InvalidArgumentError,
  type ServerHandle,
  type ServiceHandlers,
  UnavailableError,
  createLogger,
  implementService,
  serverEnvSchema,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectChatService, type ChatServiceClient } from "../src/connect-chat-service.js";
import {
  DEFAULT_RECONNECT_BACKOFF,
  reconnectDelayMs,
  resumingSubscription,
  type ResumeNotice,
} from "../src/resuming-subscription.js";

type ChatMessageInit = MessageInitShape<typeof chatV1.ChatMessageSchema>;

/**
 * A ChatService whose Subscribe can be told to break: the n-th stream ends with UNAVAILABLE after
 * delivering `breaks[n]` messages (replayed or live). Only Subscribe and GetHistory are served.
 */
function breakableChatService() {
  const messages: ChatMessageInit[] = [];
  const waiting = new Set<() => void>();
  const requests: (bigint | undefined)[] = [];
  let breaks: number[] = [];
  const send = (text: string) => {
    messages.push({ room: "lobby", sender: "ann", text, sequence: BigInt(messages.length + 1) });
    for (const wake of waiting) wake();
  };
  const impl: Partial<ServiceHandlers<typeof chatV1.ChatService>> = {
    async *subscribe(request, ctx) {
      if (request.room !== "lobby") throw new InvalidArgumentError(`no room "${request.room}" here`, "room");
      requests.push(request.afterSequence);
      const breakAfter = breaks.shift();
      if (breakAfter === 0) throw new UnavailableError("this replica is going away");
      let next = request.afterSequence === undefined ? messages.length : Number(request.afterSequence);
      let delivered = 0;
      while (!ctx.signal.aborted) {
        while (next < messages.length) {
          yield { event: { case: "message", value: messages[next++]! } };
          if (++delivered === breakAfter) throw new UnavailableError("this replica is going away");
        }
        await new Promise<void>((resolve) => {
          const wake = () => (waiting.delete(wake), resolve());
          waiting.add(wake);
          ctx.signal.addEventListener("abort", wake, { once: true });
        });
      }
    },
    async getHistory() {
      return { messages: messages.slice(-1), lastSequence: BigInt(messages.length) };
    },
  };
  return {
    impl: impl as ServiceHandlers<typeof chatV1.ChatService>,
    send,
    requests,
    breakStreams: (counts: number[]) => (breaks = [...counts]),
    reset: () => {
      messages.length = 0;
      requests.length = 0;
      breaks = [];
    },
  };
}

describe("resumingSubscription", () => {
  const service = breakableChatService();
  let server: ServerHandle;
  let client: ChatServiceClient;
  const fast = { initialMs: 5, maxMs: 20 };

  beforeAll(async () => {
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [implementService(chatV1.ChatService, service.impl)],
      files: protoFiles,
      limits: serverEnvSchema.parse({}),
      log: createLogger({ name: "resuming-subscription-test", level: "silent" }),
    });
    client = connectChatService(server.address);
  });
  afterAll(async () => {
    client?.close();
    server?.forceShutdown();
  });
  beforeEach(() => service.reset());

  /** Reads `count` messages' sequence numbers, then stops the subscription. */
  async function sequences(subscription: AsyncGenerator<chatV1.SubscribeResponse>, count: number) {
    const seen: bigint[] = [];
    for await (const { event } of subscription) {
      if (event.case === "message") seen.push(event.value.sequence);
      if (seen.length === count) break;
    }
    return seen;
  }

  it("resumes after UNAVAILABLE from the last delivered sequence: every message once, in order", async () => {
    ["one", "two", "three"].forEach(service.send);
    service.breakStreams([2, 0, 1]);
    const notices: ResumeNotice[] = [];
    const subscription = resumingSubscription(client, {
      room: "lobby",
      afterSequence: 0n,
      backoff: fast,
      onResume: (notice) => {
        notices.push(notice);
        // Messages sent while the subscriber is away must not be lost.
        service.send(`while away ${notices.length}`);
      },
    });
    expect(await sequences(subscription, 6)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(service.requests).toEqual([0n, 2n, 2n, 3n]);
    expect(notices.map((n) => [n.attempt, n.code, n.afterSequence])).toEqual([
      [1, status.UNAVAILABLE, 2n],
      [2, status.UNAVAILABLE, 2n],
      [1, status.UNAVAILABLE, 3n],
    ]);
    expect(notices[0]!.message).toBe("this replica is going away");
  });

  it("without afterSequence starts after the room's latest message, and resumes from there", async () => {
    ["old one", "old two"].forEach(service.send);
    service.breakStreams([0]);
    const subscription = resumingSubscription(client, {
      room: "lobby",
      backoff: fast,
      onResume: () => service.send("sent while away"),
    });
    const read = sequences(subscription, 2);
    // The first attempt fails at once; the message sent meanwhile is replayed on the second.
    await new Promise((resolve) => setTimeout(resolve, 50));
    service.send("live");
    expect(await read).toEqual([3n, 4n]);
    expect(service.requests).toEqual([2n, 2n]);
  });

  it("passes on a status it cannot resume from, without retrying", async () => {
    const notices: ResumeNotice[] = [];
    const subscription = resumingSubscription(client, {
      room: "nowhere",
      afterSequence: 0n,
      backoff: fast,
      onResume: (n) => notices.push(n),
    });
    await expect(sequences(subscription, 1)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(notices).toEqual([]);
  });

  it("gives up after maxAttempts failures in a row that delivered nothing", async () => {
    service.breakStreams([0, 0, 0, 0]);
    const notices: ResumeNotice[] = [];
    const subscription = resumingSubscription(client, {
      room: "lobby",
      afterSequence: 0n,
      backoff: { ...fast, maxAttempts: 3 },
      onResume: (n) => notices.push(n),
    });
    await expect(sequences(subscription, 1)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(notices.map((n) => n.attempt)).toEqual([1, 2]);
    expect(service.requests).toHaveLength(3);
  });

  it("ends quietly when its signal aborts", async () => {
    const controller = new AbortController();
    const subscription = resumingSubscription(client, { room: "lobby", signal: controller.signal, backoff: fast });
    const read = sequences(subscription, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    expect(await read).toEqual([]);
  });
});

describe("reconnectDelayMs", () => {
  const backoff = { ...DEFAULT_RECONNECT_BACKOFF, initialMs: 100, maxMs: 1000, multiplier: 2 };

  it("draws uniformly below a cap that doubles per attempt up to the maximum", () => {
    const almostOne = () => 0.9999;
    expect([1, 2, 3, 4, 5, 9].map((attempt) => reconnectDelayMs(attempt, backoff, almostOne))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(reconnectDelayMs(4, backoff, () => 0)).toBe(0);
    expect(reconnectDelayMs(2, backoff, () => 0.5)).toBe(100);
  });
});
