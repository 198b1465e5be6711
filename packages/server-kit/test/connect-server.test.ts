import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { status as Status } from "@grpc/grpc-js";
import { protoFiles, UserSchema, UserService } from "@polyrpc/proto";
import { afterEach, describe, expect, it } from "vitest";
import { createGrpcClient } from "@polyrpc/grpc-client";
import { startConnectServer } from "../src/connect/index.js";
import { implementService, type ServiceHandlers } from "../src/call-context.js";
import type { ServerHandle } from "../src/shutdown.js";
import { serverEnvSchema } from "../src/config.js";
import { InvalidArgumentError, NotFoundError } from "../src/errors.js";
import { createLogger } from "../src/logger.js";
import { INTERNAL_ERROR_MESSAGE } from "../src/rpc-status.js";
import { SHUTDOWN_MESSAGE } from "../src/shutdown.js";
import { HealthClient, ReflectionClient } from "@polyrpc/testing";

const users = new Map([
  ["1", create(UserSchema, { id: "1", username: "ada", email: "ada@example.com", roles: ["user"] })],
]);
let releaseSlow: () => void = () => {};

/** A small UserService on connect-node, enough to exercise the kit. */
const impl: ServiceHandlers<typeof UserService> = {
  async getUser(req) {
    if (req.id === "") throw new InvalidArgumentError("id is required", "id");
    if (req.id === "boom") throw new Error("secret detail: token=abc123");
    if (req.id === "slow") await new Promise<void>((resolve) => (releaseSlow = resolve));
    const user = users.get(req.id === "slow" ? "1" : req.id);
    if (!user) throw new NotFoundError(`user "${req.id}" not found`);
    return user;
  },
  async createUser(req) {
    return { id: "2", username: req.username, email: req.email, roles: ["user"] };
  },
  updateUser: () => Promise.reject(new Error("not used")),
  deleteUser: async () => ({ success: true }),
  async *listUsers(req) {
    for (let i = 0; i < (req.pageSize || 3); i++) yield { id: String(i), username: `user${i}` };
  },
  async createUsers(reqs) {
    let count = 0;
    for await (const _ of reqs) count++;
    return { count };
  },
  async *chat(messages) {
    for await (const m of messages) yield { userId: m.userId, text: `Echo: ${m.text}`, timestamp: 1n };
  },
};

async function start(env: Record<string, string> = {}): Promise<ServerHandle> {
  return startConnectServer({
    host: "127.0.0.1",
    port: 0,
    services: [implementService(UserService, impl)],
    files: protoFiles,
    limits: serverEnvSchema.parse(env),
    log: createLogger({ name: "connect-test", level: "silent" }),
    corsOrigins: ["http://allowed.example"],
  });
}

describe("startConnectServer", () => {
  let server: ServerHandle | undefined;
  const closers: Array<{ close(): void }> = [];
  afterEach(async () => {
    closers.splice(0).forEach((c) => c.close());
    await server?.shutdown();
    server = undefined;
  });

  const transports = {
    "gRPC (HTTP/2)": (baseUrl: string) => createGrpcTransport({ baseUrl }),
    "gRPC-Web (HTTP/1.1)": (baseUrl: string) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
    "Connect (HTTP/1.1)": (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
    "Connect (HTTP/2)": (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2" }),
  };

  it.each(Object.keys(transports))("answers every call pattern and maps errors the same over %s", async (name) => {
    server = await start();
    const client = createClient(UserService, transports[name as keyof typeof transports](server.baseUrl));
    expect((await client.getUser({ id: "1" })).username).toBe("ada");
    const listed = [];
    for await (const u of client.listUsers({ pageSize: 2 })) listed.push(u.username);
    expect(listed).toEqual(["user0", "user1"]);
    const errors = await Promise.all(
      ["", "404", "boom"].map((id) =>
        client.getUser({ id }).then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        ),
      ),
    );
    expect(errors.map((e) => [e?.code, e?.rawMessage])).toEqual([
      [Code.InvalidArgument, "id is required"],
      [Code.NotFound, 'user "404" not found'],
      [Code.Internal, INTERNAL_ERROR_MESSAGE],
    ]);
  });

  it("serves gRPC clients built on grpc-js, client and bidi streams included", async () => {
    server = await start();
    const grpc = createGrpcClient(UserService, server.address);
    closers.push(grpc);
    expect((await grpc.methods.createUsers([{ username: "a" }, { username: "b" }])).count).toBe(2);
    const echoes = [];
    for await (const m of grpc.methods.chat([{ userId: "u", text: "hi" }])) echoes.push(m.text);
    expect(echoes).toEqual(["Echo: hi"]);
    const err = await grpc.methods.getUser({ id: "404" }).catch((e: { code: number }) => e);
    expect((err as { code: number }).code).toBe(Status.NOT_FOUND);
  });

  it("serves grpc.health.v1 Check and Watch, turning NOT_SERVING on shutdown", async () => {
    server = await start({ SHUTDOWN_DELAY_MS: "300" });
    const health = new HealthClient(server.address);
    closers.push(health);
    expect(await health.check("")).toBe("SERVING");
    expect(await health.check("user.UserService")).toBe("SERVING");
    expect((await health.check("nope").catch((e: { code: number }) => e)) as { code: number }).toMatchObject({
      code: Status.NOT_FOUND,
    });
    const watch = health.watch("user.UserService");
    expect(await watch.next()).toBe("SERVING");
    const stopping = server.shutdown();
    expect(await watch.next()).toBe("NOT_SERVING");
    expect(await health.check("")).toBe("NOT_SERVING");
    watch.stop();
    await stopping;
  });

  it.each(["v1", "v1alpha"] as const)("serves reflection %s with the generated descriptors", async (version) => {
    server = await start();
    const reflection = new ReflectionClient(server.address, version);
    closers.push(reflection);
    expect(await reflection.listServices()).toEqual(["grpc.health.v1.Health", "user.UserService"]);
    const [file] = await reflection.fileContainingSymbol("user.UserService.GetUser");
    expect(file?.name).toBe("user/user.proto");
    await expect(reflection.fileContainingSymbol("no.Such")).rejects.toThrow(/not found/);
  });

  it("answers grpcurl through reflection", async () => {
    server = await start();
    const grpcurl = join(import.meta.dirname, "../../../.tools/bin/grpcurl");
    const run = promisify(execFile);
    const list = await run(grpcurl, ["-plaintext", server.address, "list"]);
    expect(list.stdout.trim().split("\n")).toEqual(["grpc.health.v1.Health", "user.UserService"]);
    const got = await run(grpcurl, ["-plaintext", "-d", '{"id":"1"}', server.address, "user.UserService/GetUser"]);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: "1", username: "ada" });
  });

  it("answers CORS preflights for configured origins only", async () => {
    server = await start();
    const preflight = (origin: string) =>
      fetch(`${server!.baseUrl}/user.UserService/GetUser`, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "content-type",
        },
      });
    const allowed = await preflight("http://allowed.example");
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://allowed.example");
    expect(allowed.headers.get("access-control-allow-headers")).toMatch(/Connect-Protocol-Version/i);
    const denied = await preflight("http://evil.example");
    expect(denied.status).toBe(403);
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("rejects a message over the receive limit with RESOURCE_EXHAUSTED", async () => {
    server = await start({ MAX_RECEIVE_MESSAGE_BYTES: "2048" });
    const client = createClient(UserService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const err = await client.createUser({ username: "x".repeat(4096) }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
  });

  it("lets unary calls finish on shutdown and ends streams with UNAVAILABLE at the drain deadline", async () => {
    server = await start({ SHUTDOWN_DRAIN_MS: "300", SHUTDOWN_TIMEOUT_MS: "5000" });
    const client = createClient(UserService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const slow = client.getUser({ id: "slow" });
    async function* forever() {
      yield { userId: "u", text: "hello" };
      await new Promise(() => {});
    }
    const stream = client.chat(forever())[Symbol.asyncIterator]();
    expect((await stream.next()).value?.text).toBe("Echo: hello");
    while (server.activeCalls.size < 2) await new Promise((r) => setTimeout(r, 10));
    const stopping = server.shutdown();
    await new Promise((r) => setTimeout(r, 100));
    releaseSlow();
    expect((await slow).username).toBe("ada");
    const err = await stream.next().catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.Unavailable, rawMessage: SHUTDOWN_MESSAGE });
    await stopping;
    const late = await client.getUser({ id: "1" }, { timeoutMs: 1000 }).catch((e: unknown) => ConnectError.from(e));
    expect([Code.Unavailable, Code.DeadlineExceeded]).toContain((late as ConnectError).code);
  });
});
