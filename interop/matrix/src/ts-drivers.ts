import {
  Code,
  ConnectError,
  createClient,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { credentials as grpcCredentials, Metadata, status as Status } from "@grpc/grpc-js";
import { UserService, type ChatMessage, type User } from "@polyrpc/proto";
import { createGrpcClient, isServiceError } from "@polyrpc/grpc-client";

/** How a matrix client reaches a server. */
export interface Target {
  address: string;
  /** PEM CA certificate when the server speaks TLS (server name: localhost). */
  ca?: Buffer;
}

export interface Echoed {
  user: User;
  initial: string | null;
  trailingBinHex: string | null;
}

/** The operations the checks need, over one TypeScript gRPC stack. */
export interface Driver {
  createUser(username: string, echo?: { initial: string; trailingBin: Buffer }): Promise<Echoed>;
  getUser(id: string): Promise<User>;
  updateEmail(id: string, email: string): Promise<User>;
  deleteUser(id: string): Promise<boolean>;
  listUsers(): Promise<User[]>;
  createUsers(usernames: string[]): Promise<number>;
  chat(userId: string, texts: string[]): Promise<ChatMessage[]>;
  /** Opens Chat with a deadline and sends nothing; resolves with the error it ends with. */
  chatUntilDeadline(ms: number): Promise<unknown>;
  /** Opens Chat, sends one message, reads the echo, cancels; resolves with the echo and the error. */
  chatThenCancel(userId: string, text: string): Promise<{ echoed: string; error: unknown }>;
  /** The gRPC code name and message of an error this stack raised. */
  status(err: unknown): { code: string; message: string };
  close(): void;
}

const TIMEOUT_MS = 5000;
const newUser = (username: string) => ({ username, email: `${username}@example.com`, password: "password" });

/** Resolves when `signal`-free code should stop waiting: never, until the stream ends. */
const forever = () => new Promise<never>(() => {});

type ChatRequest = { userId: string; text: string };
type OpenChat = (
  requests: AsyncIterable<ChatRequest>,
  options: { timeoutMs?: number; signal?: AbortSignal },
) => AsyncIterable<ChatMessage>;

/** The Chat-based operations, the same over any stack that can open a Chat stream. */
function chatOperations(openChat: OpenChat): Pick<Driver, "chat" | "chatUntilDeadline" | "chatThenCancel"> {
  return {
    async chat(userId, texts) {
      async function* requests() {
        yield* texts.map((text) => ({ userId, text }));
      }
      const out: ChatMessage[] = [];
      for await (const msg of openChat(requests(), {})) out.push(msg);
      return out;
    },
    async chatUntilDeadline(ms) {
      async function* nothing(): AsyncGenerator<ChatRequest> {
        await forever();
      }
      try {
        for await (const _ of openChat(nothing(), { timeoutMs: ms }));
      } catch (err) {
        return err;
      }
      return undefined;
    },
    async chatThenCancel(userId, text) {
      const controller = new AbortController();
      async function* requests() {
        yield { userId, text };
        await forever();
      }
      const stream = openChat(requests(), { signal: controller.signal })[Symbol.asyncIterator]();
      const first = await stream.next();
      controller.abort();
      try {
        await stream.next();
        return { echoed: first.value?.text ?? "", error: undefined };
      } catch (error) {
        return { echoed: first.value?.text ?? "", error };
      }
    },
  };
}

/** The TypeScript client on @grpc/grpc-js, through the kit's typed client. */
export function grpcJsDriver(target: Target): Driver {
  const client = createGrpcClient(UserService, target.address, {
    credentials: target.ca ? grpcCredentials.createSsl(target.ca) : undefined,
    channelOptions: target.ca ? { "grpc.ssl_target_name_override": "localhost" } : undefined,
  });
  const m = client.methods;
  const opts = { timeoutMs: TIMEOUT_MS };
  return {
    async createUser(username, echo) {
      const metadata = new Metadata();
      if (echo) {
        metadata.set("x-grpc-test-echo-initial", echo.initial);
        metadata.set("x-grpc-test-echo-trailing-bin", echo.trailingBin);
      }
      let initial: string | null = null;
      let trailingBinHex: string | null = null;
      const user = await m.createUser(newUser(username), {
        ...opts,
        metadata,
        onHeader: (h) => (initial = (h.get("x-grpc-test-echo-initial")[0] as string | undefined) ?? null),
        onTrailer: (t) =>
          (trailingBinHex = (t.get("x-grpc-test-echo-trailing-bin")[0] as Buffer | undefined)?.toString("hex") ?? null),
      });
      return { user, initial, trailingBinHex };
    },
    getUser: (id) => m.getUser({ id }, opts),
    updateEmail: (id, email) => m.updateUser({ id, email }, opts),
    deleteUser: async (id) => (await m.deleteUser({ id }, opts)).success,
    async listUsers() {
      const users: User[] = [];
      for await (const u of m.listUsers({ pageSize: 0 }, opts)) users.push(u);
      return users;
    },
    createUsers: async (names) => (await m.createUsers(names.map(newUser), opts)).count,
    ...chatOperations((requests, options) => m.chat(requests, { ...opts, ...options })),
    status(err) {
      if (isServiceError(err)) return { code: Status[err.code] ?? String(err.code), message: err.details };
      return { code: "CLIENT_ERROR", message: String(err) };
    },
    close: () => client.close(),
  };
}

/** connect's Code names spelled as gRPC spells them. */
function grpcName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The TypeScript client on @connectrpc/connect-node, speaking the gRPC protocol. */
export function connectDriver(target: Target): Driver {
  const transport: Transport = createGrpcTransport({
    baseUrl: `${target.ca ? "https" : "http"}://${target.address}`,
    nodeOptions: target.ca ? { ca: target.ca, servername: "localhost" } : undefined,
  });
  const client = createClient(UserService, transport);
  const opts = { timeoutMs: TIMEOUT_MS };
  return {
    async createUser(username, echo) {
      const headers = new Headers();
      if (echo) {
        headers.set("x-grpc-test-echo-initial", echo.initial);
        headers.set("x-grpc-test-echo-trailing-bin", encodeBinaryHeader(echo.trailingBin));
      }
      let initial: string | null = null;
      let trailingBinHex: string | null = null;
      const user = await client.createUser(newUser(username), {
        ...opts,
        headers,
        onHeader: (h) => (initial = h.get("x-grpc-test-echo-initial")),
        onTrailer: (t) => {
          const value = t.get("x-grpc-test-echo-trailing-bin");
          trailingBinHex = value === null ? null : Buffer.from(decodeBinaryHeader(value)).toString("hex");
        },
      });
      return { user, initial, trailingBinHex };
    },
    getUser: (id) => client.getUser({ id }, opts),
    updateEmail: (id, email) => client.updateUser({ id, email }, opts),
    deleteUser: async (id) => (await client.deleteUser({ id }, opts)).success,
    async listUsers() {
      const users: User[] = [];
      for await (const u of client.listUsers({ pageSize: 0 }, opts)) users.push(u);
      return users;
    },
    async createUsers(names) {
      async function* requests() {
        yield* names.map(newUser);
      }
      return (await client.createUsers(requests(), opts)).count;
    },
    ...chatOperations((requests, options) => client.chat(requests, { ...opts, ...options })),
    status(err) {
      const e = ConnectError.from(err);
      return { code: grpcName(e.code), message: e.rawMessage };
    },
    close: () => {},
  };
}
