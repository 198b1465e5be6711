import { connect, createServer, type Socket } from "node:net";
import { status } from "@grpc/grpc-js";
import {
  connectChatService,
  connectUserService,
  resumingSubscription,
  type ChatServiceClient,
  type ResumeNotice,
  type UserServiceClient,
} from "@polyrpc/client";
import { HealthClient, startTestPostgres, type TestPostgres } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, startChatApp, startUserService, type ServiceProcess } from "./processes.js";

/**
 * Several replicas of each service on one real PostgreSQL, as a Deployment with replicas > 1 runs
 * them: shared users and rooms, and the faults of ../shared TESTS.md F1, F2, F3 and F9.
 */

/**
 * Drains quickly, so that the shutdown faults stay short; no per-caller rate limit, as every call
 * here comes from one anonymous caller.
 */
const SHUTDOWN_ENV = {
  SHUTDOWN_DRAIN_MS: "1500",
  SHUTDOWN_TIMEOUT_MS: "4000",
  RATE_LIMIT_UNARY_PER_S: "0",
  RATE_LIMIT_STREAMS_PER_S: "0",
  RATE_LIMIT_MESSAGES_PER_S: "0",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many calls of `method` (`GetUser`, say) a replica logged as finished. */
function callsServed(service: ServiceProcess, method: string): number {
  let count = 0;
  for (const text of service.output().split("\n")) {
    if (!text.includes('"call finished"')) continue;
    const line = JSON.parse(text) as { msg?: string; method?: string };
    if (line.msg === "call finished" && line.method?.endsWith(`/${method}`)) count++;
  }
  return count;
}

/**
 * Waits until a replica has logged at least `count` finished calls of `method` (its log lines
 * arrive a moment after the call's response), and returns how many it logged.
 */
async function servedAtLeast(service: ServiceProcess, method: string, count: number): Promise<number> {
  const deadline = Date.now() + 5000;
  while (callsServed(service, method) < count && Date.now() < deadline) await sleep(20);
  return callsServed(service, method);
}

/**
 * What a Kubernetes ClusterIP Service does to TCP (kube-proxy): each new connection goes to a
 * random one of the current endpoints, and a connection stays where it landed. Without max
 * connection age, a long-lived gRPC channel through it never reaches replicas added later.
 */
async function startConnectionBalancer(initial: number[]) {
  let backends = [...initial];
  let connections = 0;
  const open = new Set<Socket>();
  const server = createServer((inbound) => {
    connections++;
    const port = backends[Math.floor(Math.random() * backends.length)]!;
    const outbound = connect(port, "127.0.0.1");
    for (const socket of [inbound, outbound]) {
      open.add(socket);
      socket.once("close", () => open.delete(socket));
      socket.on("error", () => (socket === inbound ? outbound : inbound).destroy());
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    setBackends: (ports: number[]) => (backends = [...ports]),
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `ipv4:127.0.0.1:a,127.0.0.1:b`: one channel over every replica. */
const targetOf = (replicas: readonly { port: number }[]) =>
  `ipv4:${replicas.map((r) => `127.0.0.1:${r.port}`).join(",")}`;

/** Runs `call` from `concurrency` loops until `stop` resolves; counts the outcomes by status. */
async function loadUntil(stop: Promise<unknown>, concurrency: number, call: () => Promise<unknown>) {
  const outcomes = { ok: 0, failed: [] as string[] };
  let running = true;
  void stop.finally(() => (running = false));
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (running) {
        try {
          await call();
          outcomes.ok++;
        } catch (err) {
          outcomes.failed.push(String((err as Error).message));
        }
      }
    }),
  );
  return outcomes;
}

describe("replicas on one PostgreSQL", () => {
  let pg: TestPostgres;
  let databases = 0;
  const freshDatabase = () => pg.createDatabase(`replicas_${++databases}`);

  beforeAll(async () => {
    pg = await startTestPostgres();
  }, 60_000);
  afterAll(async () => {
    killAll();
    await pg?.destroy();
  });

  describe("two user-service replicas", () => {
    let replicas: ServiceProcess[];
    let client: UserServiceClient;

    beforeAll(async () => {
      const DATABASE_URL = await freshDatabase();
      // Both start at once: the migrations must serialise on their advisory lock.
      replicas = await Promise.all([0, 1].map(() => startUserService({ DATABASE_URL, ...SHUTDOWN_ENV })));
      client = connectUserService(targetOf(replicas), { loadBalancing: "round_robin" });
    }, 60_000);
    afterAll(() => client?.close());

    it("share their users: created through one, read, updated, listed and deleted through the other", async () => {
      const [a, b] = replicas.map((r) => connectUserService(r.target));
      try {
        const created = await a!.methods.createUser({
          username: "shared-ann",
          email: "shared-ann@example.com",
          password: "correct horse",
        });
        expect((await b!.methods.getUser({ id: created.id })).username).toBe("shared-ann");
        await expect(
          b!.methods.createUser({ username: "SHARED-ANN", email: "other@example.com", password: "correct horse" }),
        ).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
        const updated = await b!.methods.updateUser({ id: created.id, email: "ann2@example.com" });
        expect((await a!.methods.getUser({ id: created.id })).email).toBe(updated.email);
        const listed: string[] = [];
        for await (const user of b!.methods.listUsers({})) listed.push(user.id);
        expect(listed).toContain(created.id);
        await a!.methods.deleteUser({ id: created.id });
        await expect(b!.methods.getUser({ id: created.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
      } finally {
        a?.close();
        b?.close();
      }
    });

    it("F1: SIGTERM with 50 calls in flight: NOT_SERVING at once, all 50 complete OK, exit within the drain deadline", async () => {
      const DATABASE_URL = await freshDatabase();
      const replica = await startUserService({ DATABASE_URL, ...SHUTDOWN_ENV });
      const users = connectUserService(replica.target);
      const health = new HealthClient(replica.target);
      try {
        const { id } = await users.methods.createUser({
          username: "held",
          email: "held@example.com",
          password: "correct horse",
        });
        // Holding the users table locked keeps the next 50 reads waiting in the database.
        const lock = pg.sql(
          "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;",
          DATABASE_URL.split("/").pop(),
        );
        await sleep(200);
        const inFlight = Array.from({ length: 50 }, () => users.methods.getUser({ id }, { timeoutMs: 10_000 }));
        await sleep(300);
        const watch = health.watch();
        expect(await watch.next()).toBe("SERVING");
        const termAt = Date.now();
        replica.child.kill("SIGTERM");
        expect(await watch.next()).toBe("NOT_SERVING");
        watch.stop();
        const results = await Promise.allSettled(inFlight);
        expect(
          results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason)),
        ).toEqual([]);
        await lock;
        const exit = await replica.exited;
        expect(exit).toEqual({ code: 0, signal: null });
        expect(Date.now() - termAt).toBeLessThan(Number(SHUTDOWN_ENV.SHUTDOWN_TIMEOUT_MS) + 2000);
      } finally {
        users.close();
        health.close();
        await replica.stop("SIGKILL");
      }
    }, 60_000);

    it("F3: kill -9 of one replica under load: GetUser with the retry policy sees no error", async () => {
      const { id } = await client.methods.createUser({
        username: "under-load",
        email: "under-load@example.com",
        password: "correct horse",
      });
      const before = replicas.map((r) => callsServed(r, "GetUser"));
      const victim = replicas[0]!;
      const survivor = replicas[1]!;
      const killed = (async () => {
        await sleep(1000);
        victim.child.kill("SIGKILL");
        await victim.exited;
        await sleep(1500);
      })();
      const outcomes = await loadUntil(killed, 8, () => client.methods.getUser({ id }, { timeoutMs: 5000 }));
      expect(outcomes.failed).toEqual([]);
      expect(outcomes.ok).toBeGreaterThan(0);
      // Both served before the kill; the survivor carried on alone.
      expect(await servedAtLeast(victim, "GetUser", before[0]! + 1)).toBeGreaterThan(before[0]!);
      // With the victim gone, the survivor answers everything.
      expect((await client.methods.getUser({ id })).id).toBe(id);
      expect(await servedAtLeast(survivor, "GetUser", 1)).toBeGreaterThan(0);
    }, 60_000);
  });

  describe("two chat replicas", () => {
    let userService: ServiceProcess;
    let chats: ServiceProcess[];
    let DATABASE_URL: string;
    let userId: string;

    beforeAll(async () => {
      DATABASE_URL = await freshDatabase();
      userService = await startUserService({ DATABASE_URL });
      const users = connectUserService(userService.target);
      try {
        userId = (
          await users.methods.createUser({
            username: "chatter",
            email: "chatter@example.com",
            password: "correct horse",
          })
        ).id;
      } finally {
        users.close();
      }
      chats = await Promise.all(
        [0, 1].map(() => startChatApp({ DATABASE_URL, USER_SERVICE_ADDRESS: userService.target, ...SHUTDOWN_ENV })),
      );
    }, 60_000);

    /** A channel to the replicas in the order given: pick_first without shuffling, so the first is used while it lives. */
    function chatClientPreferring(replicas: readonly ServiceProcess[]): ChatServiceClient {
      return connectChatService(targetOf(replicas), {
        channelOptions: {
          "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ pick_first: {} }] }),
          "grpc.initial_reconnect_backoff_ms": 100,
          "grpc.max_reconnect_backoff_ms": 1000,
        },
      });
    }

    /** Reads messages until `count` arrived; records resumes. */
    async function collect(
      client: ChatServiceClient,
      room: string,
      count: number,
      notices: ResumeNotice[],
    ): Promise<bigint[]> {
      const seen: bigint[] = [];
      const subscription = resumingSubscription(client, {
        room,
        afterSequence: 0n,
        backoff: { initialMs: 50, maxMs: 500 },
        deadline: new Date(Date.now() + 45_000),
        onResume: (n) => notices.push(n),
      });
      for await (const { event } of subscription) {
        if (event.case === "message") seen.push(event.value.sequence);
        if (seen.length === count) break;
      }
      return seen;
    }

    it("deliver a message sent to one replica to subscribers on the other, in order, exactly once", async () => {
      const [onA, onB] = [chatClientPreferring([chats[0]!]), chatClientPreferring([chats[1]!])];
      try {
        const notices: ResumeNotice[] = [];
        const received = collect(onB, "across", 20, notices);
        await sleep(300);
        for (let i = 1; i <= 20; i++) {
          await (i % 2 ? onA : onB).methods.sendMessage({ room: "across", userId, text: `m${i}` });
        }
        expect(await received).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
        expect(notices).toEqual([]);
      } finally {
        onA.close();
        onB.close();
      }
    }, 60_000);

    it("F2: SIGTERM of a replica ends its streams with UNAVAILABLE; they resume on the other with nothing lost", async () => {
      const [victim, survivor] = [chats[0]!, chats[1]!];
      const subscriber = chatClientPreferring([victim, survivor]);
      const sender = chatClientPreferring([survivor]);
      try {
        const notices: ResumeNotice[] = [];
        const total = 30;
        const received = collect(subscriber, "f2", total, notices);
        await sleep(300);
        let sent = 0;
        const send = async () => void (await sender.methods.sendMessage({ room: "f2", userId, text: `f2-${++sent}` }));
        while (sent < 10) await send();
        const termAt = Date.now();
        victim.child.kill("SIGTERM");
        // Some while the victim drains, the rest once it is gone: those only a resumed stream sees.
        while (sent < 20) await send();
        expect(await victim.exited).toEqual({ code: 0, signal: null });
        expect(Date.now() - termAt).toBeLessThan(Number(SHUTDOWN_ENV.SHUTDOWN_TIMEOUT_MS) + 5000);
        while (sent < total) await send();
        expect(await received).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
        expect(notices.length).toBeGreaterThan(0);
        expect(notices[0]!.code).toBe(status.UNAVAILABLE);
      } finally {
        subscriber.close();
        sender.close();
      }
    }, 60_000);

    it("F3: kill -9 of a replica: its subscribers reconnect with backoff to a new one and miss nothing", async () => {
      const victim = chats[1]!;
      const replacement = await startChatApp({
        DATABASE_URL,
        USER_SERVICE_ADDRESS: userService.target,
        ...SHUTDOWN_ENV,
      });
      chats.push(replacement);
      const subscriber = chatClientPreferring([victim, replacement]);
      const sender = chatClientPreferring([replacement]);
      try {
        const notices: ResumeNotice[] = [];
        const total = 30;
        const received = collect(subscriber, "f3", total, notices);
        await sleep(300);
        let sent = 0;
        const send = async () => void (await sender.methods.sendMessage({ room: "f3", userId, text: `f3-${++sent}` }));
        while (sent < 10) await send();
        victim.child.kill("SIGKILL");
        expect(await victim.exited).toEqual({ code: null, signal: "SIGKILL" });
        while (sent < total) await send();
        expect(await received).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
        expect(notices.map((n) => n.code)).toContain(status.UNAVAILABLE);
      } finally {
        subscriber.close();
        sender.close();
      }
    }, 60_000);
  });

  it("F9: a long-lived channel reaches replicas started later once the server's max connection age ends its connection", async () => {
    const DATABASE_URL = await freshDatabase();
    // A short age keeps the test short; each new connection lands on a random replica.
    const env = { DATABASE_URL, MAX_CONNECTION_AGE_MS: "2000", MAX_CONNECTION_AGE_GRACE_MS: "1000", ...SHUTDOWN_ENV };
    const first = await startUserService(env);
    const service = await startConnectionBalancer([first.port]);
    // One channel to one address, as a caller sees a Kubernetes Service.
    const client = connectUserService(`127.0.0.1:${service.port}`);
    try {
      const { id } = await client.methods.createUser({
        username: "rebalanced",
        email: "rebalanced@example.com",
        password: "correct horse",
      });
      await client.methods.getUser({ id });
      expect(await servedAtLeast(first, "GetUser", 1)).toBe(1);
      // Scale out: two more replicas join the Service's endpoints.
      const later = await Promise.all([0, 1].map(() => startUserService(env)));
      service.setBackends([first, ...later].map((r) => r.port));
      const replicas = [first, ...later];
      const everyReplicaServed = () => replicas.every((r) => callsServed(r, "GetUser") > 0);
      const deadline = Date.now() + 60_000;
      const failures: string[] = [];
      while (!everyReplicaServed() && Date.now() < deadline) {
        try {
          await client.methods.getUser({ id }, { timeoutMs: 5000 });
        } catch (err) {
          failures.push(String((err as Error).message));
        }
        await sleep(20);
      }
      expect(replicas.map((r) => callsServed(r, "GetUser") > 0)).toEqual([true, true, true]);
      expect(failures).toEqual([]);
      expect(service.connections()).toBeGreaterThan(1);
    } finally {
      client.close();
      await service.close();
    }
  }, 90_000);
});
