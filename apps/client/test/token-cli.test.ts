import { chatV1, protoFiles, UserService } from "@polyrpc/proto";
import {
  type CallContext,
  type ServerHandle,
  type ServiceHandlers,
  authHook,
  createLogger,
  implementService,
  principalOf,
  requireRole,
  serverEnvSchema,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliEnv } from "../src/cli-args.js";
import { connectUserService, DEVELOPMENT_AUDIENCE, DEVELOPMENT_ISSUER } from "../src/index.js";
import { runCaptured } from "./run-captured.js";

const SECRET = "a development secret of 32 bytes!";

/** Whom each call ran as, by method. */
const callers: { method: string; subject: string | undefined }[] = [];
const record = (method: string, ctx: CallContext) => callers.push({ method, subject: principalOf(ctx)?.subject });

/** A UserService and a ChatService behind the kit's HS256 auth hook, as the services run them. */
async function startAuthenticatedServer(): Promise<ServerHandle> {
  const users = {
    async getUser(req: { id: string }, ctx: CallContext) {
      record("GetUser", ctx);
      return { id: req.id, username: principalOf(ctx)!.subject, roles: [...principalOf(ctx)!.roles] };
    },
    async deleteUser(_req: unknown, ctx: CallContext) {
      record("DeleteUser", ctx);
      requireRole(ctx, "admin");
      return { success: true };
    },
  };
  const chat = {
    async getHistory(req: { room: string }, ctx: CallContext) {
      record("GetHistory", ctx);
      return { room: req.room, messages: [], lastSequence: 0n };
    },
  };
  return startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    services: [
      implementService(UserService, users as unknown as ServiceHandlers<typeof UserService>),
      implementService(chatV1.ChatService, chat as unknown as ServiceHandlers<typeof chatV1.ChatService>),
    ],
    files: protoFiles,
    limits: serverEnvSchema.parse({ SHUTDOWN_DRAIN_MS: "0", SHUTDOWN_TIMEOUT_MS: "1000" }),
    log: createLogger({ name: "token-cli-test", level: "silent" }),
    hooks: [authHook({ mode: "hs256", secret: SECRET, issuer: DEVELOPMENT_ISSUER, audience: DEVELOPMENT_AUDIENCE })],
  });
}

const run = (argv: string[], env: CliEnv = {}, secrets: Record<string, string> = { AUTH_HS256_SECRET: SECRET }) =>
  runCaptured(argv, env, secrets);

describe("polyrpc token and --token", () => {
  let server: ServerHandle;
  let target: string[];
  beforeAll(async () => {
    server = await startAuthenticatedServer();
    target = ["--target", server.address, "--chat-target", server.address];
  });
  afterAll(() => server.shutdown());

  async function mint(...args: string[]): Promise<string> {
    const result = await run(["token", ...args]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    return result.stdout.trim();
  }

  it("prints a token that jose verifies with the services' secret", async () => {
    const token = await mint("--subject", "ada", "--roles", "admin,user", "--ttl", "10m");
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ["HS256"],
      issuer: "polyrpc-dev",
      audience: "polyrpc",
    });
    expect(payload).toMatchObject({ sub: "ada", roles: ["admin", "user"] });
    expect(payload.exp! - payload.iat!).toBe(600);
  });

  it("prints the token with its subject, roles and expiry as JSON with --json", async () => {
    const result = await run(["--json", "token", "--subject", "ada"]);
    const printed = JSON.parse(result.stdout);
    expect(printed).toMatchObject({ subject: "ada", roles: ["user"], token: expect.stringMatching(/^ey/) });
    expect(Date.parse(printed.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
  });

  it("reads the secret from the variable --secret-env names, and exits 2 when it is missing or short", async () => {
    expect(
      (await run(["token", "--subject", "ada", "--secret-env", "MY_SECRET"], {}, { MY_SECRET: SECRET })).code,
    ).toBe(0);
    const missing = await run(["token", "--subject", "ada", "--secret-env", "MY_SECRET"]);
    expect(missing).toMatchObject({ code: 2, stdout: "" });
    expect(missing.stderr).toMatch(/\$MY_SECRET, which must hold at least 32 bytes/);
    expect((await run(["token", "--subject", "ada"], {}, { AUTH_HS256_SECRET: "short" })).code).toBe(2);
  });

  it("sends --token with user commands, and fails UNAUTHENTICATED without one", async () => {
    const token = await mint("--subject", "ada");
    const ok = await run([...target, "--json", "--token", token, "get", "u-1"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ id: "u-1", username: "ada" });
    const refused = await run([...target, "get", "u-1"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: UNAUTHENTICATED: /);
  });

  it("sends POLYRPC_TOKEN with chat commands too", async () => {
    const token = await mint("--subject", "grace");
    const result = await run([...target, "chat", "history", "lobby"], { POLYRPC_TOKEN: token });
    expect(result.code).toBe(0);
    expect(callers.at(-1)).toEqual({ method: "GetHistory", subject: "grace" });
  });

  it("lets only an admin token delete", async () => {
    const user = await run([...target, "--token", await mint("--subject", "ada"), "delete", "u-1"]);
    expect(user.code).toBe(1);
    expect(user.stderr).toBe("error: PERMISSION_DENIED: role admin is required\n");
    const admin = await run([
      ...target,
      "--token",
      await mint("--subject", "root", "--roles", "admin"),
      "delete",
      "u-1",
    ]);
    expect(admin.code).toBe(0);
  });

  it("leaves a call's own authorization metadata alone in the library", async () => {
    const { Metadata } = await import("@grpc/grpc-js");
    const client = connectUserService(server.address, { token: await mint("--subject", "channel-wide") });
    try {
      expect((await client.methods.getUser({ id: "1" })).username).toBe("channel-wide");
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${await mint("--subject", "this-call")}`);
      expect((await client.methods.getUser({ id: "1" }, { metadata })).username).toBe("this-call");
    } finally {
      client.close();
    }
  });
});
