import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWTPayload,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallHook } from "../src/call-hooks.js";
import { authHook, principalOf, requireRole, type AuthHookOptions } from "../src/auth/index.js";
import type { GrpcClient } from "@polyrpc/grpc-client";
import { HealthClient, ReflectionClient } from "@polyrpc/testing";
import { RUNTIMES, startUserServiceOn, type Runtime } from "./user-service-on.js";

const ISSUER = "https://issuer.polyrpc.test";
const AUDIENCE = "polyrpc-test";
const SECRET = crypto.getRandomValues(new Uint8Array(32));
/** JWKS reloads for an unknown kid happen at most this often in these tests. */
const RELOAD_COOLDOWN_MS = 300;

type ServerName = "hs256" | "jwks-file" | "jwks-url" | "no-skew";

interface SigningKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  publicJwk: object;
  publicPem: string;
}

async function signingKey(kid: string, alg: SigningKey["alg"]): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

// Generated at test time; no key is committed.
const rsa = await signingKey("rsa-1", "RS256");
const ec = await signingKey("ec-1", "ES256");
const rotated = await signingKey("rsa-2", "RS256");
const stranger = await signingKey("rsa-1", "RS256"); // Claims rsa-1's kid, signs with another key.

const jwks = (...keys: SigningKey[]): JSONWebKeySet => ({
  keys: keys.map((k) => k.publicJwk) as JSONWebKeySet["keys"],
});
const now = () => Math.floor(Date.now() / 1000);

/** Standard claims of a valid token; `claims` overrides or (with undefined) removes them. */
function claimsOf(claims: Record<string, unknown> = {}): JWTPayload {
  const base: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "ada",
    roles: ["user"],
    iat: now(),
    exp: now() + 600,
    ...claims,
  };
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as JWTPayload;
}

function hs256(claims: Record<string, unknown> = {}, secret: Uint8Array = SECRET): Promise<string> {
  return new SignJWT(claimsOf(claims)).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
}

function signed(key: SigningKey, claims: Record<string, unknown> = {}, kid = key.kid): Promise<string> {
  return new SignJWT(claimsOf(claims)).setProtectedHeader({ alg: key.alg, kid, typ: "JWT" }).sign(key.privateKey);
}

/** A token padded with a claim of `bytes` characters, validly signed. */
const padded = (bytes: number) => hs256({ pad: "x".repeat(bytes) });

interface Case {
  name: string;
  server: ServerName;
  /** The whole authorization header; undefined sends none. */
  header: () => Promise<string | undefined>;
  method?: "getUser" | "deleteUser";
  code: Status;
  /** The status message, when it matters. */
  details?: string;
}

const bearer = (token: Promise<string>) => async () => `Bearer ${await token}`;
const { OK, UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED } = Status;

/** S1 and S2: every runtime must give each case the same code. */
const CASES: Case[] = [
  { name: "a valid HS256 token", server: "hs256", header: bearer(hs256()), code: OK },
  { name: "a valid RS256 token from the JWKS file", server: "jwks-file", header: bearer(signed(rsa)), code: OK },
  { name: "a valid ES256 token from the JWKS file", server: "jwks-file", header: bearer(signed(ec)), code: OK },
  { name: "a valid RS256 token from the JWKS URL", server: "jwks-url", header: bearer(signed(rsa)), code: OK },
  {
    name: "a lower-case bearer scheme",
    server: "hs256",
    header: async () => `bearer ${await hs256()}`,
    code: OK,
  },
  {
    name: "alg none (hs256)",
    server: "hs256",
    header: bearer(Promise.resolve(new UnsecuredJWT(claimsOf()).encode())),
    code: UNAUTHENTICATED,
    details: "the token's signing algorithm is not accepted",
  },
  {
    name: "alg none (jwks)",
    server: "jwks-file",
    header: bearer(Promise.resolve(new UnsecuredJWT(claimsOf()).encode())),
    code: UNAUTHENTICATED,
  },
  {
    name: "HS256 signed with the RSA public key (algorithm confusion)",
    server: "jwks-file",
    header: bearer(
      new SignJWT(claimsOf())
        .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
        .sign(new TextEncoder().encode(rsa.publicPem)),
    ),
    code: UNAUTHENTICATED,
    details: "the token's signing algorithm is not accepted",
  },
  {
    name: "an RS256 token where only HS256 is accepted",
    server: "hs256",
    header: bearer(signed(rsa)),
    code: UNAUTHENTICATED,
    details: "the token's signing algorithm is not accepted",
  },
  {
    name: "an ES256 token where only RS256 is configured",
    server: "jwks-url",
    header: bearer(signed(ec)),
    code: UNAUTHENTICATED,
    details: "the token's signing algorithm is not accepted",
  },
  {
    name: "an HS256 token signed with another secret",
    server: "hs256",
    header: bearer(hs256({}, crypto.getRandomValues(new Uint8Array(32)))),
    code: UNAUTHENTICATED,
    details: "the token's signature is not valid",
  },
  {
    name: "a known kid with another key's signature",
    server: "jwks-file",
    header: bearer(signed(stranger)),
    code: UNAUTHENTICATED,
    details: "the token's signature is not valid",
  },
  {
    name: "a wrong iss",
    server: "hs256",
    header: bearer(hs256({ iss: "https://evil.test" })),
    code: UNAUTHENTICATED,
    details: "the token was not issued by the expected issuer",
  },
  {
    name: "a wrong aud",
    server: "jwks-file",
    header: bearer(signed(rsa, { aud: "another-service" })),
    code: UNAUTHENTICATED,
    details: "the token is not meant for this audience",
  },
  {
    name: "an expired token (beyond the 60 s skew)",
    server: "hs256",
    header: bearer(hs256({ iat: now() - 3600, exp: now() - 120 })),
    code: UNAUTHENTICATED,
    details: "the token expired",
  },
  {
    name: "a token expired within the 60 s skew",
    server: "hs256",
    header: bearer(hs256({ iat: now() - 3600, exp: now() - 30 })),
    code: OK,
  },
  {
    name: "nbf in the future beyond the 60 s skew",
    server: "jwks-file",
    header: bearer(signed(rsa, { nbf: now() + 120 })),
    code: UNAUTHENTICATED,
    details: "the token is not valid yet",
  },
  {
    name: "nbf in the future within the 60 s skew",
    server: "hs256",
    header: bearer(hs256({ nbf: now() + 30 })),
    code: OK,
  },
  {
    name: "an unknown kid",
    server: "jwks-file",
    header: bearer(signed(rotated)),
    code: UNAUTHENTICATED,
    details: "the token's signing key is not known",
  },
  {
    name: "an unknown kid (URL)",
    server: "jwks-url",
    header: bearer(signed(rotated)),
    code: UNAUTHENTICATED,
    details: "the token's signing key is not known",
  },
  {
    name: "a token over 8 KiB",
    server: "hs256",
    header: bearer(padded(9 * 1024)),
    code: UNAUTHENTICATED,
    details: "the bearer token is longer than 8192 bytes",
  },
  {
    // Past the server's metadata limit (16 KiB): refused before any hook runs.
    name: "a 60 KiB token",
    server: "jwks-url",
    header: bearer(padded(60 * 1024)),
    code: RESOURCE_EXHAUSTED,
    details: "Bandwidth exhausted or memory limit exceeded",
  },
  { name: "a token just under 8 KiB", server: "hs256", header: bearer(padded(5 * 1024)), code: OK },
  {
    name: "no authorization header",
    server: "hs256",
    header: async () => undefined,
    code: UNAUTHENTICATED,
    details: "this call needs a bearer token in the authorization header",
  },
  {
    name: "a Basic credential",
    server: "hs256",
    header: async () => "Basic YWRhOnNlY3JldA==",
    code: UNAUTHENTICATED,
    details: 'the authorization header must be "Bearer <token>"',
  },
  { name: "Bearer without a token", server: "hs256", header: async () => "Bearer", code: UNAUTHENTICATED },
  { name: "a token without the scheme", server: "hs256", header: async () => await hs256(), code: UNAUTHENTICATED },
  {
    name: "a token that is not a JWT",
    server: "hs256",
    header: async () => "Bearer not.a.jwt",
    code: UNAUTHENTICATED,
    details: "the bearer token is not a valid JWT",
  },
  {
    name: "a token without exp",
    server: "hs256",
    header: bearer(hs256({ exp: undefined })),
    code: UNAUTHENTICATED,
    details: 'the token has no "exp" claim',
  },
  {
    name: "a token without sub",
    server: "hs256",
    header: bearer(hs256({ sub: undefined })),
    code: UNAUTHENTICATED,
    details: 'the token has no "sub" claim',
  },
  {
    name: "roles that are not an array of strings",
    server: "hs256",
    header: bearer(hs256({ roles: "admin" })),
    code: UNAUTHENTICATED,
    details: 'the token\'s "roles" claim must be an array of strings',
  },
  {
    name: "DeleteUser with roles [user] (S2)",
    server: "hs256",
    method: "deleteUser",
    header: bearer(hs256({ roles: ["user"] })),
    code: PERMISSION_DENIED,
    details: "role admin is required",
  },
  {
    name: "DeleteUser with a token without roles (S2)",
    server: "jwks-file",
    method: "deleteUser",
    header: bearer(signed(rsa, { roles: undefined })),
    code: PERMISSION_DENIED,
  },
  {
    name: "DeleteUser with roles [admin] (S2)",
    server: "hs256",
    method: "deleteUser",
    header: bearer(hs256({ roles: ["admin"] })),
    code: OK,
  },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let handlerRuns = 0;
let hookStarts = 0;

/** The hook, counting the calls that reach it. */
function counted(hook: CallHook): CallHook {
  return {
    start(call) {
      hookStarts++;
      return hook.start(call);
    },
  };
}
/** A UserService that shows who called and guards DeleteUser as the real one does. */
const impl = {
  async getUser(req: { id: string }, ctx: Parameters<typeof principalOf>[0]) {
    handlerRuns++;
    return { id: req.id, username: principalOf(ctx)?.subject ?? "", roles: [...(principalOf(ctx)?.roles ?? [])] };
  },
  async deleteUser(_req: { id: string }, ctx: Parameters<typeof principalOf>[0]) {
    handlerRuns++;
    requireRole(ctx, "admin");
    return { success: true };
  },
  async *chat(requests: AsyncIterable<{ userId: string; text: string }>) {
    handlerRuns++;
    for await (const message of requests) yield { userId: message.userId, text: `Echo: ${message.text}` };
  },
  async *listUsers(_req: unknown, ctx: { signal: AbortSignal }) {
    handlerRuns++;
    // Streams until the caller or a hook ends the call; 10 s at most so a failing test cannot hang.
    for (let i = 0; i < 200 && !ctx.signal.aborted; i++) {
      yield { id: String(i) };
      await sleep(50);
    }
  },
};

/** A JWKS served over http on 127.0.0.1, counting its fetches. */
class JwksServer {
  fetches = 0;
  private server: Server | undefined;
  constructor(public keys: JSONWebKeySet) {}

  async start(): Promise<string> {
    this.server = createServer((_req, res) => {
      this.fetches++;
      res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify(this.keys));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/.well-known/jwks.json`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

interface Running {
  address: string;
  client: GrpcClient<typeof UserService>;
  stop(): Promise<void>;
}

async function serve(runtime: Runtime, options: AuthHookOptions): Promise<Running> {
  return startUserServiceOn(runtime, impl, { hooks: [counted(authHook(options))] });
}

function withAuthorization(header: string | undefined): Metadata {
  const metadata = new Metadata();
  if (header !== undefined) metadata.set("authorization", header);
  return metadata;
}

async function callStatus(
  running: Running,
  header: string | undefined,
  method: "getUser" | "deleteUser" = "getUser",
): Promise<{ code: Status; details: string }> {
  try {
    await running.client.methods[method]({ id: "42" }, { metadata: withAuthorization(header), timeoutMs: 10_000 });
    return { code: OK, details: "" };
  } catch (err) {
    return { code: (err as ServiceError).code, details: (err as ServiceError).details };
  }
}

describe.each(RUNTIMES)("authHook on %s", (runtime) => {
  const servers = {} as Record<ServerName, Running>;
  const jwksServer = new JwksServer(jwks(rsa, ec));
  let dir: string;
  let jwksFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "polyrpc-auth-"));
    jwksFile = join(dir, "jwks.json");
    await writeFile(jwksFile, JSON.stringify(jwks(rsa, ec)));
    const url = await jwksServer.start();
    const common = { issuer: ISSUER, audience: AUDIENCE, reloadCooldownMs: RELOAD_COOLDOWN_MS };
    servers.hs256 = await serve(runtime, { mode: "hs256", secret: SECRET, ...common });
    servers["no-skew"] = await serve(runtime, { mode: "hs256", secret: SECRET, ...common, clockSkewSeconds: 0 });
    servers["jwks-file"] = await serve(runtime, { mode: "jwks", jwks: { file: jwksFile }, ...common });
    servers["jwks-url"] = await serve(runtime, { mode: "jwks", jwks: { url }, algorithms: ["RS256"], ...common });
  });

  afterAll(async () => {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    await jwksServer.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(CASES)("answers $name with code $code", async ({ server, header, method, code, details }) => {
    const sent = await header();
    const before = handlerRuns;
    const result = await callStatus(servers[server], sent, method);
    expect(Status[result.code]).toBe(Status[code]);
    if (details !== undefined) expect(result.details).toBe(details);
    // A refusal happens before the handler; the token never comes back in a message.
    if (code === UNAUTHENTICATED) expect(handlerRuns).toBe(before);
    const token = sent?.split(" ")[1];
    if (token) expect(result.details).not.toContain(token);
  });

  it("gives the handler the token's subject and roles", async () => {
    const user = await servers.hs256.client.methods.getUser(
      { id: "1" },
      { metadata: withAuthorization(`Bearer ${await hs256({ sub: "grace", roles: ["admin", "user"] })}`) },
    );
    expect(user).toMatchObject({ username: "grace", roles: ["admin", "user"] });
  });

  it("leaves health and reflection public", async () => {
    const health = new HealthClient(servers.hs256.address);
    const reflection = new ReflectionClient(servers.hs256.address);
    try {
      expect(await health.check()).toBe("SERVING");
      expect(await health.check(UserService.typeName)).toBe("SERVING");
      expect(await reflection.listServices()).toContain(UserService.typeName);
    } finally {
      health.close();
      reflection.close();
    }
  });

  it("refuses a 2 MiB token without harming the server", async () => {
    const before = hookStarts;
    const result = await callStatus(servers.hs256, `Bearer ${await padded(2 * 1024 * 1024)}`);
    expect(result.code).not.toBe(OK);
    expect(hookStarts).toBe(before);
    // The code the transport (or the hook) gives, recorded so that a change shows up.
    expect(Status[result.code]).toBe(HUGE_TOKEN_CODE[runtime]);
    expect((await callStatus(servers.hs256, `Bearer ${await hs256()}`)).code).toBe(OK);
    const health = new HealthClient(servers.hs256.address);
    try {
      expect(await health.check()).toBe("SERVING");
    } finally {
      health.close();
    }
  });

  for (const source of ["file", "url"] as const) {
    it(`accepts a token signed with a new kid once the JWKS ${source} has it (rotation)`, async () => {
      const running = servers[source === "file" ? "jwks-file" : "jwks-url"];
      const token = `Bearer ${await signed(rotated)}`;
      if (source === "file") await writeFile(jwksFile, JSON.stringify(jwks(rsa, ec, rotated)));
      else jwksServer.keys = jwks(rsa, rotated);
      await sleep(RELOAD_COOLDOWN_MS + 50);
      expect(Status[(await callStatus(running, token)).code]).toBe("OK");
      // The old key keeps working while it is still published.
      expect(Status[(await callStatus(running, `Bearer ${await signed(rsa)}`)).code]).toBe("OK");
    });
  }

  it("fetches the JWKS URL at most once per cooldown however many unknown kids arrive", async () => {
    await sleep(RELOAD_COOLDOWN_MS + 50);
    const before = jwksServer.fetches;
    const header = `Bearer ${await signed(await signingKey("rsa-unknown", "RS256"))}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => callStatus(servers["jwks-url"], header)));
    expect(results.every((r) => r.code === UNAUTHENTICATED)).toBe(true);
    expect(jwksServer.fetches - before).toBe(1);
  });

  it("ends a stream with UNAUTHENTICATED when its token expires (S3)", async () => {
    const token = await hs256({ exp: now() + 2 });
    const received: unknown[] = [];
    const err = await (async () => {
      for await (const user of servers["no-skew"].client.methods.listUsers(
        { pageSize: 0 },
        { metadata: withAuthorization(`Bearer ${token}`) },
      ))
        received.push(user);
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: UNAUTHENTICATED, details: "the token expired" });
    expect(received.length).toBeGreaterThan(0);
  });

  it("ends a bidi stream with UNAUTHENTICATED when its token expires, while the client still sends (S3)", async () => {
    const token = await hs256({ exp: now() + 2 });
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    async function* requests() {
      yield { userId: "ada", text: "hi" };
      await held;
    }
    const received: unknown[] = [];
    const err = await (async () => {
      for await (const echo of servers["no-skew"].client.methods.chat(requests(), {
        metadata: withAuthorization(`Bearer ${token}`),
      }))
        received.push(echo);
    })()
      .catch((e: unknown) => e)
      .finally(release);
    expect(err).toMatchObject({ code: UNAUTHENTICATED, details: "the token expired" });
    expect(received).toEqual([expect.objectContaining({ text: "Echo: hi" })]);
  });

  it("lets a stream whose token outlives it end normally", async () => {
    const received: unknown[] = [];
    const stream = servers["no-skew"].client.methods.listUsers(
      { pageSize: 0 },
      { metadata: withAuthorization(`Bearer ${await hs256()}`) },
    );
    for await (const user of stream) {
      received.push(user);
      if (received.length === 3) break;
    }
    expect(received).toHaveLength(3);
  });
});

/** What each runtime answers a 2 MiB authorization header with. */
// Node's HTTP/2 layer (nghttp2's HPACK decoder, whose limit on one header is 64 KiB) closes the
// connection with GOAWAY COMPRESSION_ERROR before the call exists; grpc-js clients report the reset
// stream ("Received RST_STREAM with code 9") as INTERNAL. Both servers are Node HTTP/2 servers.
const HUGE_TOKEN_CODE: Record<Runtime, string> = { "grpc-js": "INTERNAL", connect: "INTERNAL" };
