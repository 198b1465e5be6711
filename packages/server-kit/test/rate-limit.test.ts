import { Metadata, status as Status } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import { afterEach, describe, expect, it } from "vitest";
import { createCallValueKey, type CallHook } from "../src/call-hooks.js";
import type { GrpcClient } from "@polyrpc/grpc-client";
import {
  limitsEnvSchema,
  rateLimitHook,
  rateLimitsFromEnv,
  subjectOf,
  type RateLimitOptions,
} from "../src/rate-limit/index.js";
import { RUNTIMES, startUserServiceOn, type Runtime } from "./user-service-on.js";

/** The defaults the S4 tests check: 100 unary calls/s, 20 new streams/s, 100 messages/s per stream. */
const LIMITS = rateLimitsFromEnv(limitsEnvSchema.parse({}));

const impl = {
  async getUser(req: { id: string }) {
    return { id: req.id };
  },
  async *listUsers() {
    yield { id: "1" };
  },
  async createUsers(reqs: AsyncIterable<unknown>) {
    let count = 0;
    for await (const _ of reqs) count++;
    return { count };
  },
  async *chat(messages: AsyncIterable<{ text: string }>) {
    for await (const message of messages) yield { text: message.text };
  },
};

/** A stand-in for the auth hook: attaches the caller's principal from a header. */
const PRINCIPAL = createCallValueKey<string | undefined>("principal", undefined);
const principalHook: CallHook = {
  start(call) {
    call.set(PRINCIPAL, call.header("x-principal"));
  },
};

interface Running {
  client: GrpcClient<typeof UserService>["methods"];
  stop(): Promise<void>;
}

async function startServer(runtime: Runtime, hooks: CallHook[]): Promise<Running> {
  const server = await startUserServiceOn(runtime, impl, { hooks });
  return { client: server.client.methods, stop: () => server.stop() };
}

const as = (headers: Record<string, string>) => {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return { metadata };
};
const alice = as({ authorization: "Bearer alice-token" });
const bob = as({ authorization: "Bearer bob-token" });

async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** The codes of a batch of calls, counted: `{ OK: 100, RESOURCE_EXHAUSTED: 1 }`. */
async function codes(calls: Promise<unknown>[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const result of await Promise.allSettled(calls)) {
    const code = result.status === "fulfilled" ? "OK" : Status[(result.reason as { code: Status }).code]!;
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

describe.each(RUNTIMES)("rate limits per subject (S4) on %s", (runtime) => {
  /** A frozen clock: buckets refill only when a test moves it, so counts are exact. */
  let clock = 0;
  let running: Running | undefined;
  const start = async (options: Partial<RateLimitOptions> = {}, before: CallHook[] = []) => {
    clock = 0;
    running = await startServer(runtime, [...before, rateLimitHook({ ...LIMITS, now: () => clock, ...options })]);
    return running.client;
  };
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it("refuses a subject's unary calls past 100 per second and lets other subjects through", async () => {
    const client = await start();
    expect(await codes(times(100, (i) => client.getUser({ id: String(i) }, alice)))).toEqual({ OK: 100 });
    const refused = await client.getUser({ id: "x" }, alice).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: "unary call rate limit exceeded (at most 100 per second per caller). Retry later.",
    });
    expect(await codes(times(100, (i) => client.getUser({ id: String(i) }, bob)))).toEqual({ OK: 100 });
    // Streams have their own budget.
    expect(await drain(client.listUsers({}, alice))).toHaveLength(1);
    // A second later the bucket is full again.
    clock += 1000;
    expect(await codes(times(101, (i) => client.getUser({ id: String(i) }, alice)))).toEqual({
      OK: 100,
      RESOURCE_EXHAUSTED: 1,
    });
  });

  it("refuses a subject's new streams past 20 per second and lets other subjects through", async () => {
    const client = await start();
    expect(await codes(times(20, () => drain(client.listUsers({}, alice))))).toEqual({ OK: 20 });
    await expect(drain(client.listUsers({}, alice))).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: "new stream rate limit exceeded (at most 20 per second per caller). Retry later.",
    });
    // Client and bidi streams count as new streams too.
    await expect(client.createUsers([{ username: "a" }], alice)).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
    await expect(drain(client.chat([{ text: "hi" }], alice))).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
    expect(await codes(times(20, () => drain(client.listUsers({}, bob))))).toEqual({ OK: 20 });
    expect(await client.getUser({ id: "1" }, alice)).toMatchObject({ id: "1" });
    clock += 50; // 20/s: one stream's worth
    expect(await drain(client.listUsers({}, alice))).toHaveLength(1);
    await expect(drain(client.listUsers({}, alice))).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
  });

  it("ends a client stream that sends more than 100 messages per second; other streams go on", async () => {
    const client = await start();
    const users = (n: number) => times(n, (i) => ({ username: `user${i}` }));
    expect(await client.createUsers(users(100), alice)).toMatchObject({ count: 100 });
    await expect(client.createUsers(users(101), alice)).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: "message rate limit exceeded (at most 100 per second on one stream). Send more slowly.",
    });
    // The budget is per stream: the same subject's next stream, and another subject's, start full.
    expect(await client.createUsers(users(100), alice)).toMatchObject({ count: 100 });
    expect(await client.createUsers(users(100), bob)).toMatchObject({ count: 100 });
  });

  it("ends a bidi stream that sends more than 100 messages per second after what it let through", async () => {
    const client = await start();
    const echoed: unknown[] = [];
    const err = await (async () => {
      for await (const reply of client.chat(
        times(150, (i) => ({ text: String(i) })),
        alice,
      ))
        echoed.push(reply);
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
    expect(echoed.length).toBeLessThanOrEqual(100);
    expect(
      await drain(
        client.chat(
          times(100, (i) => ({ text: String(i) })),
          bob,
        ),
      ),
    ).toHaveLength(100);
  });

  it("counts calls against the principal a previous hook attached, whatever token it came with", async () => {
    const client = await start({ subject: (call) => call.get(PRINCIPAL) }, [principalHook]);
    const ada = (token: string) => as({ "x-principal": "ada", authorization: `Bearer ${token}` });
    expect(
      await codes([
        ...times(60, (i) => client.getUser({ id: String(i) }, ada("laptop"))),
        ...times(40, (i) => client.getUser({ id: String(i) }, ada("phone"))),
      ]),
    ).toEqual({ OK: 100 });
    await expect(client.getUser({ id: "x" }, ada("tablet"))).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
    });
    expect(await client.getUser({ id: "1" }, as({ "x-principal": "grace" }))).toMatchObject({ id: "1" });
  });

  it("applies no limit that is set to 0", async () => {
    const client = await start(
      rateLimitsFromEnv(
        limitsEnvSchema.parse({
          RATE_LIMIT_UNARY_PER_S: "0",
          RATE_LIMIT_STREAMS_PER_S: "0",
          RATE_LIMIT_MESSAGES_PER_S: "0",
        }),
      ),
    );
    expect(await codes(times(300, (i) => client.getUser({ id: String(i) }, alice)))).toEqual({ OK: 300 });
    expect(await codes(times(50, () => drain(client.listUsers({}, alice))))).toEqual({ OK: 50 });
    expect(
      await client.createUsers(
        times(300, (i) => ({ username: `u${i}` })),
        alice,
      ),
    ).toMatchObject({ count: 300 });
  });
});

describe("subjectOf", () => {
  const call = (headers: Record<string, string>) =>
    ({ header: (name: string) => headers[name] }) as Parameters<typeof subjectOf>[0];

  it("keys on a hash of the credential, never the credential itself", () => {
    const subject = subjectOf(call({ authorization: "Bearer secret-token", "x-forwarded-for": "10.0.0.1" }));
    expect(subject).toMatch(/^auth:[\w-]{22}$/);
    expect(subject).not.toContain("secret");
    expect(subjectOf(call({ authorization: "Bearer other" }))).not.toBe(subject);
  });

  it("falls back to the address the nearest proxy saw, then to one shared anonymous subject", () => {
    expect(subjectOf(call({ "x-forwarded-for": "203.0.113.9, 10.1.2.3" }))).toBe("ip:10.1.2.3");
    expect(subjectOf(call({}))).toBe("anonymous");
  });
});

describe("limitsEnvSchema", () => {
  it("defaults to 100 unary calls, 20 streams and 100 messages per second, 0 turning a limit off", () => {
    expect(limitsEnvSchema.parse({})).toEqual({
      RATE_LIMIT_UNARY_PER_S: 100,
      RATE_LIMIT_STREAMS_PER_S: 20,
      RATE_LIMIT_MESSAGES_PER_S: 100,
    });
    expect(limitsEnvSchema.parse({ RATE_LIMIT_UNARY_PER_S: "0" }).RATE_LIMIT_UNARY_PER_S).toBe(0);
    expect(limitsEnvSchema.safeParse({ RATE_LIMIT_STREAMS_PER_S: "-1" }).success).toBe(false);
  });
});
