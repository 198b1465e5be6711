import { Metadata, status as Status } from "@grpc/grpc-js";
import { INTERNAL_ERROR_MESSAGE, SHUTDOWN_MESSAGE } from "@polyrpc/server-kit";
import { HealthClient, ReflectionClient } from "@polyrpc/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "@polyrpc/server-kit";
import { loadUserServiceConfig } from "../src/config.js";
import type { UserStore } from "../src/user-store.js";
import { callError, eventually, sleep, startTestService, type TestService } from "./harness.js";

/** Replaces one store method, keeping the real store for the rest. */
function overriding(store: UserStore, overrides: Partial<UserStore>): UserStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop in overrides) return overrides[prop as keyof UserStore];
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("the user service process", () => {
  let t: TestService | undefined;
  const clients: Array<{ close(): void }> = [];
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await t?.stop();
    t = undefined;
  });

  it("reports SERVING over grpc.health.v1 for the server and for user.UserService", async () => {
    t = await startTestService();
    const health = new HealthClient(t.service.server.address);
    clients.push(health);
    expect(await health.check("")).toBe("SERVING");
    expect(await health.check("user.UserService")).toBe("SERVING");
    const unknown = await callError(health.check("no.Such"));
    expect(unknown.code).toBe(Status.NOT_FOUND);
  });

  it("turns health NOT_SERVING for Check and Watch as soon as shutdown starts", async () => {
    t = await startTestService({ env: { SHUTDOWN_DELAY_MS: "500" } });
    const health = new HealthClient(t.service.server.address);
    clients.push(health);
    const watch = health.watch("user.UserService");
    expect(await watch.next()).toBe("SERVING");
    const stopping = t.service.server.shutdown();
    expect(await watch.next()).toBe("NOT_SERVING");
    expect(await health.check("")).toBe("NOT_SERVING");
    expect(await health.check("user.UserService")).toBe("NOT_SERVING");
    watch.stop();
    await stopping;
  });

  it.each(["v1", "v1alpha"] as const)(
    "lists UserService and health over reflection %s, with the contract's descriptors",
    async (version) => {
      t = await startTestService();
      const reflection = new ReflectionClient(t.service.server.address, version);
      clients.push(reflection);
      const services = await reflection.listServices();
      expect(services).toContain("user.UserService");
      expect(services).toContain("grpc.health.v1.Health");
      const [file] = await reflection.fileContainingSymbol("user.UserService");
      expect(file?.name).toBe("user/user.proto");
      expect(file?.package).toBe("user");
      expect(file?.service[0]?.method.map((m) => m.name)).toEqual([
        "GetUser",
        "CreateUser",
        "UpdateUser",
        "DeleteUser",
        "ListUsers",
        "CreateUsers",
        "Chat",
      ]);
    },
  );

  it("answers INTERNAL with a generic message and logs the detail only on the server (B8)", async () => {
    const secret = "postgres://admin:hunter2@db.internal:5432/users";
    t = await startTestService({
      wrapStore: (store) =>
        overriding(store, {
          get: async () => {
            throw new Error(`connection to ${secret} refused`);
          },
        }),
    });
    const err = await callError(t.client.getUser({ id: "anything" }));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe(INTERNAL_ERROR_MESSAGE);
    expect(JSON.stringify(err)).not.toContain("hunter2");
    expect(t.logs()).toContain(secret);
  });

  it("lets in-flight unary calls finish on shutdown while refusing new ones (F1)", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    t = await startTestService({
      wrapStore: (store) =>
        overriding(store, {
          get: async (id) => {
            await gate;
            return store.get(id);
          },
        }),
    });
    const user = await t.client.createUser({
      username: "inflight",
      email: "inflight@example.com",
      password: "password",
    });
    const calls = Array.from({ length: 50 }, () => t!.client.getUser({ id: user.id }));
    await eventually(() => t!.service.server.activeCalls.size === 50);
    const stopping = t.service.server.shutdown();
    await sleep(100);
    expect(t.service.server.health.isServing).toBe(false);
    release();
    const results = await Promise.all(calls);
    expect(results.every((u) => u.id === user.id)).toBe(true);
    await stopping;
    const late = await callError(t.client.getUser({ id: user.id }, { timeoutMs: 1000 }));
    expect([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED]).toContain(late.code);
  });

  it("ends open streams with UNAVAILABLE at the drain deadline and then stops", async () => {
    t = await startTestService({ env: { SHUTDOWN_DRAIN_MS: "300", SHUTDOWN_TIMEOUT_MS: "5000" } });
    async function* forever() {
      yield { userId: "u", text: "hello", timestamp: 0n };
      await new Promise(() => {});
    }
    const stream = t.client.chat(forever())[Symbol.asyncIterator]();
    expect((await stream.next()).value?.text).toBe("Echo: hello");
    const started = Date.now();
    await t.service.server.shutdown();
    const err = await callError(stream.next());
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toBe(SHUTDOWN_MESSAGE);
    // The stream was given the drain window, and shutdown did not wait for the hard timeout.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("rejects a message over the configured receive limit with RESOURCE_EXHAUSTED", async () => {
    t = await startTestService({ env: { MAX_RECEIVE_MESSAGE_BYTES: "2048" } });
    const err = await callError(
      t.client.createUser({ username: "big", email: "big@example.com", password: "p".repeat(4096) }),
    );
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    const ok = await t.client.createUser({ username: "small", email: "small@example.com", password: "p".repeat(1000) });
    expect(ok.username).toBe("small");
  });
});

describe("user service configuration", () => {
  it("applies the documented defaults", () => {
    const config = loadUserServiceConfig({ POLYRPC_ENV: "development" });
    expect(config).toMatchObject({
      PORT: 50051,
      DATABASE_PATH: "./data/user-service.db",
      MAX_RECEIVE_MESSAGE_BYTES: 4 * 1024 * 1024,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("names every invalid variable at start-up", () => {
    let error: unknown;
    try {
      loadUserServiceConfig({ PORT: "http", PASSWORD_HASH_COST: "1000", LOG_LEVEL: "loud" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(/^PORT: .*\(got "http"\)/m);
    expect(problems).toMatch(/^PASSWORD_HASH_COST: must be a power of two/m);
    expect(problems).toMatch(/^LOG_LEVEL: /m);
  });

  it("reads DATABASE_URL with its pool settings, and never echoes its password", () => {
    const config = loadUserServiceConfig({
      POLYRPC_ENV: "development",
      DATABASE_URL: "postgres://app:pw@db:5432/users",
    });
    expect(config).toMatchObject({
      DATABASE_URL: "postgres://app:pw@db:5432/users",
      DATABASE_POOL_MAX: 10,
      DATABASE_CONNECT_TIMEOUT_MS: 2000,
    });
    expect(loadUserServiceConfig({ POLYRPC_ENV: "development" }).DATABASE_URL).toBeUndefined();
    let error: unknown;
    try {
      loadUserServiceConfig({ DATABASE_URL: "mysql://app:hunter2@db/users", DATABASE_POOL_MAX: "0" });
    } catch (err) {
      error = err;
    }
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(
      /^DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL \(got "mysql:\/\/app:\*\*\*@db\/users"\)/m,
    );
    expect(problems).toMatch(/^DATABASE_POOL_MAX: /m);
    expect(problems).not.toContain("hunter2");
  });
});
