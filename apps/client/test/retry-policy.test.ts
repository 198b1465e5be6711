import type { MessageInitShape } from "@bufbuild/protobuf";
import { protoFiles, UserService, type UserSchema } from "@polyrpc/proto";
import {
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
  connectUserService,
  errorInfo,
  listUsersPage,
  USER_SERVICE_CONFIG,
  type UserServiceClient,
} from "../src/index.js";

type MethodName = keyof typeof UserService.method;

const alice: MessageInitShape<typeof UserSchema> = {
  id: "u-1",
  username: "alice",
  email: "alice@example.com",
  roles: ["user"],
};

/**
 * A UserService whose every method fails with UNAVAILABLE for its first `failures` calls and then
 * answers, counting the attempts the server sees per method.
 */
function flakyService(failures: number) {
  const attempts = Object.fromEntries(Object.keys(UserService.method).map((name) => [name, 0])) as Record<
    MethodName,
    number
  >;
  const attempt = (method: MethodName) => {
    attempts[method]++;
    if (attempts[method] <= failures)
      throw new UnavailableError(`${method} is warming up (attempt ${attempts[method]})`);
  };
  const impl: ServiceHandlers<typeof UserService> = {
    async getUser(request) {
      attempt("getUser");
      return { ...alice, id: request.id };
    },
    async createUser(request) {
      attempt("createUser");
      return { ...alice, username: request.username };
    },
    async updateUser(request) {
      attempt("updateUser");
      return { ...alice, id: request.id };
    },
    async deleteUser() {
      attempt("deleteUser");
      return { success: true };
    },
    async *listUsers(_request, ctx) {
      attempt("listUsers");
      yield alice;
      yield { ...alice, id: "u-2", username: "bob" };
      ctx.responseTrailer.set("next-page-token", "after-bob");
    },
    async createUsers(requests) {
      for await (const _ of requests);
      attempt("createUsers");
      return { users: [alice], count: 1 };
    },
    async *chat(messages) {
      attempt("chat");
      for await (const message of messages) yield { text: `Echo: ${message.text}` };
    },
  };
  return { impl, attempts };
}

async function startFlakyServer(failures: number) {
  const { impl, attempts } = flakyService(failures);
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    services: [implementService(UserService, impl)],
    files: protoFiles,
    limits: serverEnvSchema.parse({}),
    log: createLogger({ name: "retry-policy-test", level: "silent" }),
  });
  return { server, attempts };
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (err) {
    return errorInfo(err).code;
  }
}

describe("USER_SERVICE_CONFIG", () => {
  it("gives a retry policy to GetUser and ListUsers and to nothing else", () => {
    const retried = USER_SERVICE_CONFIG.methodConfig
      .filter((c) => c.retryPolicy)
      .flatMap((c) => c.name.map((n) => `${n.service}/${n.method}`));
    expect(retried.sort()).toEqual(["user.UserService/GetUser", "user.UserService/ListUsers"]);
    expect(USER_SERVICE_CONFIG.methodConfig[0]?.retryPolicy).toEqual({
      maxAttempts: 4,
      initialBackoff: "0.1s",
      maxBackoff: "1s",
      backoffMultiplier: 2,
      retryableStatusCodes: ["UNAVAILABLE"],
    });
  });
});

describe("connectUserService against a service that is UNAVAILABLE for the first 2 calls of each method", () => {
  let server: ServerHandle;
  let attempts: Record<MethodName, number>;
  let client: UserServiceClient;

  beforeAll(async () => {
    ({ server, attempts } = await startFlakyServer(2));
    client = connectUserService(server.address);
  });

  afterAll(async () => {
    client?.close();
    server?.forceShutdown();
  });

  it("hides the failures of GetUser behind retries, in 3 attempts", async () => {
    const user = await client.methods.getUser({ id: "u-7" }, { timeoutMs: 10_000 });
    expect(user.id).toBe("u-7");
    expect(attempts.getUser).toBe(3);
  });

  it("hides the failures of ListUsers behind retries, in 3 attempts, and keeps the trailer", async () => {
    const page = await listUsersPage(client, { pageSize: 2 }, { timeoutMs: 10_000 });
    expect(page.users.map((u) => u.username)).toEqual(["alice", "bob"]);
    expect(page.nextPageToken).toBe("after-bob");
    expect(attempts.listUsers).toBe(3);
  });

  it.each([
    [
      "createUser",
      () => client.methods.createUser({ username: "carol", email: "carol@example.com", password: "password1" }),
    ],
    ["updateUser", () => client.methods.updateUser({ id: "u-1", email: "new@example.com" })],
    ["deleteUser", () => client.methods.deleteUser({ id: "u-1" })],
    [
      "createUsers",
      () => client.methods.createUsers([{ username: "dave", email: "dave@example.com", password: "password1" }]),
    ],
  ] as const)("surfaces UNAVAILABLE from the write %s after exactly 1 attempt", async (method, call) => {
    expect(await codeOf(call())).toBe("UNAVAILABLE");
    expect(attempts[method]).toBe(1);
  });
});

describe("connectUserService against a service that is always UNAVAILABLE", () => {
  let server: ServerHandle;
  let attempts: Record<MethodName, number>;
  let client: UserServiceClient;

  beforeAll(async () => {
    ({ server, attempts } = await startFlakyServer(Infinity));
    client = connectUserService(server.address);
  });

  afterAll(async () => {
    client?.close();
    server?.forceShutdown();
  });

  it("gives up on GetUser after maxAttempts (4) and reports the service's UNAVAILABLE", async () => {
    const err: unknown = await client.methods.getUser({ id: "u-1" }, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(errorInfo(err)).toEqual({ code: "UNAVAILABLE", message: "getUser is warming up (attempt 4)" });
    expect(attempts.getUser).toBe(4);
  });
});

describe("connectUserService with its service config replaced", () => {
  it("surfaces the first UNAVAILABLE of GetUser, so the retries come from USER_SERVICE_CONFIG", async () => {
    const { server, attempts } = await startFlakyServer(2);
    const client = connectUserService(server.address, {
      channelOptions: { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [], methodConfig: [] }) },
    });
    try {
      expect(await codeOf(client.methods.getUser({ id: "u-1" }))).toBe("UNAVAILABLE");
      expect(attempts.getUser).toBe(1);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe("connectUserService against a service that fails with UNAVAILABLE after sending response headers", () => {
  /** Every call of GetUser and CreateUser sends its headers, then fails for the first `failures` attempts. */
  async function startCommittingServer(failures: number) {
    const attempts = { getUser: 0, createUser: 0 };
    const impl: Partial<ServiceHandlers<typeof UserService>> = {
      async getUser(request, ctx) {
        // Sent before the status: the client has its headers, so the call is committed.
        ctx.responseHeader.set("x-attempt", "committed");
        if (++attempts.getUser <= failures) throw new UnavailableError(`the replica went away (${attempts.getUser})`);
        return { ...alice, id: request.id };
      },
      async createUser(request, ctx) {
        // Sent before the status: the client has its headers, so the call is committed.
        ctx.responseHeader.set("x-attempt", "committed");
        if (++attempts.createUser <= failures) throw new UnavailableError("the replica went away");
        return { ...alice, username: request.username };
      },
    };
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [implementService(UserService, impl as ServiceHandlers<typeof UserService>)],
      files: protoFiles,
      limits: serverEnvSchema.parse({}),
      log: createLogger({ name: "committed-retry-test", level: "silent" }),
    });
    return { server, attempts };
  }

  it("tries a committed GetUser twice more, as a read is safe to repeat", async () => {
    const { server, attempts } = await startCommittingServer(2);
    const client = connectUserService(server.address);
    try {
      expect((await client.methods.getUser({ id: "u-7" }, { timeoutMs: 5000 })).id).toBe("u-7");
      expect(attempts.getUser).toBe(3);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it("reports the UNAVAILABLE of the third committed GetUser, and never repeats a committed CreateUser", async () => {
    const { server, attempts } = await startCommittingServer(10);
    const client = connectUserService(server.address);
    try {
      expect(await codeOf(client.methods.getUser({ id: "u-7" }))).toBe("UNAVAILABLE");
      expect(attempts.getUser).toBe(3);
      expect(
        await codeOf(client.methods.createUser({ username: "bob", email: "b@example.com", password: "pw123456" })),
      ).toBe("UNAVAILABLE");
      expect(attempts.createUser).toBe(1);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
