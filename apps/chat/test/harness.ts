import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { chatV1, UserService } from "@polyrpc/proto";
import { createLogger, UnavailableError } from "@polyrpc/server-kit";
import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import { createPostgresPool } from "@polyrpc/server-kit/postgres";
import { loggedPort, startServiceProcess } from "@polyrpc/testing";
import pg from "pg";
import { inject } from "vitest";
import { InProcessChatBus, type ChatBus } from "../src/chat-bus.js";
import type { ChatLog } from "../src/chat-log.js";
import { chatEnvSchema } from "../src/config.js";
import { PostgresChatLog, type PostgresChatLogOptions } from "../src/postgres-chat-log.js";
import { startChat, type RunningChat } from "../src/server.js";
import { SqliteChatLog } from "../src/sqlite-chat-log.js";
import { UnknownUserError, type UserDirectory, type UserLookupCall } from "../src/user-directory.js";

/** SQLite in memory or in a file, or a fresh database on the run's PostgreSQL server. */
export type StorageKind = "memory" | "disk" | "postgres";
export type ChatClient = Client<typeof chatV1.ChatService>;

export class FakeUserDirectory implements UserDirectory {
  readonly known = new Set<string>();
  readonly confirmed = new Set<string>();
  readonly calls: Array<{ userId: string; call: UserLookupCall }> = [];
  down = false;

  constructor(users: Iterable<string> = []) {
    for (const user of users) this.known.add(user);
  }

  async ensureUser(userId: string, call: UserLookupCall): Promise<void> {
    this.calls.push({ userId, call });
    if (this.down) throw new UnavailableError("the user service cannot be reached (UNAVAILABLE); try again");
    if (!this.known.has(userId)) throw new UnknownUserError(userId);
    this.confirmed.add(userId);
  }

  isKnownRecently(userId: string): boolean {
    return this.confirmed.has(userId);
  }
}

/**
 * Creates an empty database on the PostgreSQL server the run shares (test/global-setup.ts) and
 * returns its URL.
 */
export async function createTestDatabase(): Promise<string> {
  const admin = new URL(inject("postgresAdminUrl"));
  const name = `chat_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  admin.pathname = `/${name}`;
  return admin.toString();
}

/** A PostgresChatLog on its own pool (`close()` ends it), on `url` or a fresh database. */
export async function openPostgresLog(url?: string, options: PostgresChatLogOptions = {}): Promise<PostgresChatLog> {
  const pool = createPostgresPool({ url: url ?? (await createTestDatabase()), applicationName: "polyrpc-chat-test" });
  return PostgresChatLog.open(pool, options);
}

export interface TestChatServer {
  baseUrl: string;
  /** With PostgreSQL storage, the database's URL (another replica may start on it). */
  databaseUrl: string | undefined;
  chat: RunningChat;
  client: ChatClient;
  log: ChatLog;
  bus: ChatBus;
  /** A new client on its own HTTP/2 connection. */
  newClient(): ChatClient;
  stop(): Promise<void>;
}

export interface TestChatServerOptions {
  storage?: StorageKind;
  /** With `postgres` storage: the database to use (a replica of another server); a fresh one by default. */
  databaseUrl?: string;
  log?: ChatLog;
  bus?: ChatBus;
  users?: UserDirectory;
  bufferLimit?: number;
  /** The protocol `client` and `newClient()` speak; gRPC by default. */
  protocol?: Protocol;
  /** Further chat environment variables. */
  env?: Record<string, string>;
}

/**
 * The three protocols the chat speaks on its one port, as a connect-node client reaches them (in
 * protobuf binary), and the Connect protocol in JSON, as the browser page speaks it.
 */
export const protocols = {
  grpc: (baseUrl: string) => createGrpcTransport({ baseUrl }),
  "grpc-web": (baseUrl: string) => createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  connect: (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2" }),
  "connect-json": (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }),
} as const;
export type Protocol = keyof typeof protocols;

/**
 * Starts the real chat server (`startChat`: the kit's connect-node server with health,
 * reflection, error mapping and shutdown) on a free port, with a real SQLite log (memory or a
 * temporary file) and the in-process bus unless given others; with `postgres` storage, the server
 * opens the PostgreSQL log and bus itself from DATABASE_URL, as in production.
 */
export async function startChatServer(options: TestChatServerOptions = {}): Promise<TestChatServer> {
  const dir = options.storage === "disk" ? mkdtempSync(join(tmpdir(), "polyrpc-chat-")) : undefined;
  const postgres = options.storage === "postgres";
  const databaseUrl = postgres ? (options.databaseUrl ?? (await createTestDatabase())) : undefined;
  const log = options.log ?? (postgres ? undefined : new SqliteChatLog(dir ? join(dir, "chat.db") : ":memory:"));
  const bus = options.bus ?? (postgres ? undefined : new InProcessChatBus());
  const users = options.users ?? new FakeUserDirectory(["alice", "bob", "carol"]);
  const config = chatEnvSchema.parse({
    POLYRPC_ENV: "development",
    METRICS_ENABLED: "false",
    // Many subscribers from one anonymous caller: the kit's own tests cover the rate limits.
    RATE_LIMIT_UNARY_PER_S: "0",
    RATE_LIMIT_STREAMS_PER_S: "0",
    RATE_LIMIT_MESSAGES_PER_S: "0",
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_PATH: ":memory:",
    SUBSCRIBER_BUFFER: String(options.bufferLimit ?? 1024),
    SHUTDOWN_DRAIN_MS: "0",
    SHUTDOWN_TIMEOUT_MS: "2000",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...options.env,
  });
  const chat = await startChat(config, {
    ...(log ? { log } : {}),
    ...(bus ? { bus } : {}),
    users,
    logger: createLogger({ name: "chat", level: "silent" }),
  });
  const baseUrl = chat.server.baseUrl;
  const transport = protocols[options.protocol ?? "grpc"];
  const newClient = () => createClient(chatV1.ChatService, transport(baseUrl));
  return {
    baseUrl,
    databaseUrl,
    chat,
    client: newClient(),
    log: chat.log,
    bus: chat.bus,
    newClient,
    async stop() {
      await chat.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The given requests as an async iterable that ends after the last one. */
export async function* requestsOf<T>(...items: T[]): AsyncGenerator<T> {
  yield* items;
}

/** Reads a response stream one item at a time, with a timeout on each read. */
export class StreamReader<T> {
  private readonly iterator: AsyncIterator<T>;

  constructor(stream: AsyncIterable<T>) {
    this.iterator = stream[Symbol.asyncIterator]();
  }

  async next(timeoutMs = 5000): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const result = await Promise.race([this.iterator.next(), timeout]);
      if (result.done) throw new Error("the stream ended");
      return result.value;
    } finally {
      clearTimeout(timer);
    }
  }

  async take(count: number, timeoutMs = 5000): Promise<T[]> {
    const out: T[] = [];
    while (out.length < count) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Resolves when the stream ends, with its error (undefined when it ended cleanly) and what came before. */
  async end(timeoutMs = 5000): Promise<{ error: ConnectError | undefined; rest: T[] }> {
    const rest: T[] = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the stream did not end within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      while (true) {
        const result = await Promise.race([this.iterator.next(), timeout]);
        if (result.done) return { error: undefined, rest };
        rest.push(result.value);
      }
    } catch (err) {
      if (err instanceof ConnectError) return { error: err, rest };
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async cancel(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** The ConnectError a call fails with. */
export async function callError(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** The ConnectError a stream fails with, after reading all it sends. */
export async function streamError(stream: AsyncIterable<unknown>): Promise<ConnectError> {
  return callError(
    (async () => {
      for await (const _ of stream);
    })(),
  );
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Polls until `check` returns true, failing after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}

/** The sequences of the messages among chat or subscribe responses, in order. */
export function sequencesOf(responses: Array<{ event: { case: string | undefined; value?: unknown } }>): bigint[] {
  return responses.flatMap((r) => (r.event.case === "message" ? [(r.event.value as chatV1.ChatMessage).sequence] : []));
}

/** Subscribes as `userId` and waits until the server has announced it, i.e. it is live. */
export async function subscribeAs(client: ChatClient, room: string, userId: string, signal?: AbortSignal) {
  const reader = new StreamReader(client.subscribe({ room, userId }, { signal }));
  while (true) {
    const event = await reader.next();
    if (event.event.case === "presence" && event.event.value.userId === userId) return reader;
  }
}

/** Reads until the message with sequence `last`, returning the message sequences seen. */
export async function readMessagesUntil(
  reader: StreamReader<chatV1.SubscribeResponse>,
  last: bigint,
  timeoutMs = 5000,
): Promise<bigint[]> {
  const seen: bigint[] = [];
  while (seen.at(-1) !== last) {
    const event = await reader.next(timeoutMs);
    if (event.event.case === "message") seen.push(event.event.value.sequence);
    if (seen.length > 0 && seen.at(-1)! > last) throw new Error(`read past ${last}`);
  }
  return seen;
}

/** 1n..n as bigints. */
export function range(from: number, to: number): bigint[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => BigInt(from + i));
}

const repoRoot = resolve(import.meta.dirname, "../../..");

/** The real user service, started as a process. */
export interface UserServiceProcess {
  target: string;
  port: number;
  users: GrpcClient<typeof UserService>;
  /** Creates a user and returns its id. */
  createUser(username: string): Promise<string>;
  /** SIGKILLs the process (an outage) and waits until it is gone. */
  kill(): Promise<void>;
  output(): string;
}

/**
 * Starts apps/user-service as a process (`node --import tsx src/main.ts`, from its own directory
 * so that its dependencies resolve) on a free port, over an in-memory database, and resolves once
 * it logs the port it listens on. The process is not imported: apps never import each other.
 */
export async function startUserServiceProcess(timeoutMs = 30_000): Promise<UserServiceProcess> {
  const dir = join(repoRoot, "apps/user-service");
  const service = await startServiceProcess({
    name: "user service",
    command: process.execPath,
    args: ["--conditions=polyrpc-source", "--import", "tsx", join(dir, "src/main.ts")],
    cwd: dir,
    env: {
      HOST: "127.0.0.1",
      PORT: "0",
      DATABASE_PATH: ":memory:",
      PASSWORD_HASH_COST: "1024",
      POLYRPC_ENV: "development",
      METRICS_ENABLED: "false",
      LOG_LEVEL: "info",
    },
    portOf: loggedPort("gRPC server listening"),
    timeoutMs,
  });
  const { port } = service;
  const target = `127.0.0.1:${port}`;
  const users = createGrpcClient(UserService, target);
  return {
    target,
    port,
    users,
    async createUser(username) {
      const user = await users.methods.createUser({ username, email: `${username}@example.com`, password: "password" });
      return user.id;
    },
    async kill() {
      users.close();
      await service.stop("SIGKILL");
    },
    output: service.output,
  };
}
