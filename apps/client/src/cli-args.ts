import { parseArgs, type ParseArgsConfig } from "node:util";
import { isBearerToken } from "./bearer-token.js";
import { DEVELOPMENT_AUDIENCE, DEVELOPMENT_ISSUER, parseTtl } from "./development-token.js";
import { LOAD_BALANCING_POLICIES, type LoadBalancing } from "./service-config.js";

/** The UserService the CLI dials when neither `--target` nor POLYRPC_TARGET says otherwise. */
export const DEFAULT_TARGET = "localhost:50051";
/** The ChatService the chat commands dial when neither `--chat-target` nor POLYRPC_CHAT_TARGET says otherwise. */
export const DEFAULT_CHAT_TARGET = "localhost:50052";
/** Default deadline of each call, in milliseconds (not of `chat join` and `chat subscribe`). */
export const DEFAULT_TIMEOUT_MS = 5000;
/** The variable `polyrpc token` reads the HS256 secret from unless `--secret-env` names another. */
export const DEFAULT_SECRET_ENV = "AUTH_HS256_SECRET";
/** Longest lifetime `polyrpc token` mints, in seconds (30 days). */
export const MAX_TOKEN_TTL_S = 30 * 86_400;
/** Most users CreateUsers accepts in one call. */
export const MAX_CREATE_MANY = 1000;

const MAX_UINT32 = 2 ** 32 - 1;
const MAX_UINT64 = 2n ** 64n - 1n;

/** What every subcommand shares. */
export interface GlobalOptions {
  /** The UserService, for every command but the chat ones. */
  target: string;
  /** The ChatService, for the `chat` commands. */
  chatTarget: string;
  /** Deadline of each call in milliseconds; 0 means no deadline. */
  timeoutMs: number;
  json: boolean;
  /** Sent as `authorization: Bearer <token>` with every call; from `--token` or POLYRPC_TOKEN. */
  token?: string;
  /** TLS to the services: PEM file paths (`ca` to trust; `cert` and `key` for mTLS). */
  tls?: TlsFiles;
  /** How calls spread over a target with several addresses. */
  loadBalancing: LoadBalancing;
}

/** The PEM files of `--tls`, `--ca`, `--cert` and `--key`. */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** A subcommand that calls the UserService, with its arguments checked and typed. */
export type UserCommand =
  | { name: "get"; id: string }
  | { name: "create"; username: string; email: string; password: string }
  | { name: "update"; id: string; username?: string; email?: string }
  | { name: "delete"; id: string }
  | { name: "list"; pageSize: number; pageToken: string }
  | { name: "create-many"; count?: number; prefix?: string }
  | { name: "echo"; userId: string }
  | { name: "demo" };

/** A `chat` subcommand, which calls the ChatService. */
export type ChatCommand =
  | { name: "chat join"; room: string; userId: string; afterSequence?: bigint }
  | { name: "chat send"; room: string; userId: string; text: string }
  /** `userId` "" watches without being announced; `count` ends the stream after that many messages. */
  | { name: "chat subscribe"; room: string; userId: string; afterSequence?: bigint; count?: number }
  /** At most one of `beforeSequence` and `afterSequence`; neither reads the latest messages. */
  | { name: "chat history"; room: string; beforeSequence?: bigint; afterSequence?: bigint; limit?: number };

/** `token`: mints a development HS256 token locally; calls nothing. */
export interface TokenCommand {
  name: "token";
  subject: string;
  roles: string[];
  ttlSeconds: number;
  /** The environment variable holding the HS256 secret. */
  secretEnv: string;
  issuer: string;
  audience: string;
}

/** One subcommand with its arguments, checked and typed. */
export type Command = UserCommand | ChatCommand | TokenCommand;

export type CommandName = Command["name"];

/** True for the commands that call the ChatService (at `chatTarget`) rather than the UserService. */
export function isChatCommand(command: Command): command is ChatCommand {
  return command.name.startsWith("chat ");
}

/** The outcome of parsing: run a command, or print the help. */
export type CliArgs = { kind: "help" } | { kind: "run"; global: GlobalOptions; command: Command };

/** The command line is wrong; the CLI prints the message and the usage and exits with 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The environment variables the CLI reads (passed in, so that parsing stays pure). */
export interface CliEnv {
  POLYRPC_TARGET?: string | undefined;
  POLYRPC_CHAT_TARGET?: string | undefined;
  /** A bearer token for every call, when `--token` is not given. */
  POLYRPC_TOKEN?: string | undefined;
}

export const USAGE = `Usage: polyrpc [global options] <command> [arguments]

Commands:
  get <id>                                          GetUser
  create --username U --email E --password P        CreateUser
  update <id> [--username U] [--email E]            UpdateUser (at least one of the two)
  delete <id>                                       DeleteUser
  list [--page-size N] [--page-token T]             ListUsers (server stream); 0 = all users
  create-many [--count N [--prefix P]]              CreateUsers (client stream): JSON lines
                                                    {"username","email","password"} from stdin,
                                                    or N generated users named <P>-<i>
  echo [--user-id ID]                               UserService.Chat (bidi): echoes each stdin line
  demo                                              Runs every call pattern and checks the answers
  token --subject ID [--roles R1,R2] [--ttl 1h]     Prints a development HS256 token (JWT) signed
        [--secret-env VAR] [--issuer I]             with the secret in $VAR (default
        [--audience A]                              ${DEFAULT_SECRET_ENV}); roles default to user,
                                                    issuer ${DEVELOPMENT_ISSUER}, audience ${DEVELOPMENT_AUDIENCE}

Chat commands (ChatService at --chat-target):
  chat join <room> --user ID [--after N]            Chat (bidi): prints the room's messages and
                                                    presence, sends each stdin line; ends with stdin
  chat send <room> --user ID <text...>              SendMessage: prints the stored message
  chat subscribe <room> [--user ID] [--after N]     Subscribe (server stream): prints messages and
                [--count N]                         presence; --count N stops after N messages;
                                                    resumes after UNAVAILABLE with jittered backoff
  chat history <room> [--before N | --after N]      GetHistory: the latest messages, or those before
                [--limit N]                         or after sequence N (--limit: server default 50)

Global options:
  --target host:port   UserService address (default: $POLYRPC_TARGET or ${DEFAULT_TARGET})
  --chat-target host:port
                       ChatService address (default: $POLYRPC_CHAT_TARGET or ${DEFAULT_CHAT_TARGET})
  --timeout ms         deadline of each call (default: ${DEFAULT_TIMEOUT_MS}, but none for chat join and
                       chat subscribe; 0 = none)
  --json               one JSON object per line (protobuf JSON); errors as {"error":{...}}
  --token JWT          send "authorization: Bearer JWT" with every call (default: $POLYRPC_TOKEN)
  --tls                connect over TLS, trusting the system's CAs (implied by --ca, --cert, --key)
  --ca file            PEM CA certificate(s) to trust instead
  --cert file --key file
                       PEM client certificate and key, for servers that require mTLS
  --lb policy          for a target with several addresses (dns:///name, ipv4:host:port,host:port):
                       pick_first (default: one connection, address order shuffled) or round_robin
                       (each call to the next address)
  -h, --help           show this help

Exit status: 0 success, 1 the call (or a demo step) failed, 2 bad usage.`;

const options = {
  target: { type: "string" },
  "chat-target": { type: "string" },
  timeout: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  username: { type: "string" },
  email: { type: "string" },
  password: { type: "string" },
  "page-size": { type: "string" },
  "page-token": { type: "string" },
  count: { type: "string" },
  prefix: { type: "string" },
  "user-id": { type: "string" },
  user: { type: "string" },
  after: { type: "string" },
  before: { type: "string" },
  limit: { type: "string" },
  token: { type: "string" },
  lb: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  subject: { type: "string" },
  roles: { type: "string" },
  ttl: { type: "string" },
  "secret-env": { type: "string" },
  issuer: { type: "string" },
  audience: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

type OptionName = keyof typeof options;
type Values = { [K in OptionName]?: (typeof options)[K]["type"] extends "boolean" ? boolean : string };

const GLOBAL_OPTIONS: readonly OptionName[] = [
  "target",
  "chat-target",
  "timeout",
  "json",
  "help",
  "token",
  "lb",
  "tls",
  "ca",
  "cert",
  "key",
];

/** The subcommands of `chat`. */
const CHAT_SUBCOMMANDS = ["join", "send", "subscribe", "history"] as const;

/**
 * The options and positional arguments each subcommand takes; a positional ending in `...` takes
 * the rest (at least one).
 */
const COMMANDS: Record<CommandName, { options: readonly OptionName[]; positionals: readonly string[] }> = {
  get: { options: [], positionals: ["id"] },
  create: { options: ["username", "email", "password"], positionals: [] },
  update: { options: ["username", "email"], positionals: ["id"] },
  delete: { options: [], positionals: ["id"] },
  list: { options: ["page-size", "page-token"], positionals: [] },
  "create-many": { options: ["count", "prefix"], positionals: [] },
  echo: { options: ["user-id"], positionals: [] },
  demo: { options: [], positionals: [] },
  token: { options: ["subject", "roles", "ttl", "secret-env", "issuer", "audience"], positionals: [] },
  "chat join": { options: ["user", "after"], positionals: ["room"] },
  "chat send": { options: ["user"], positionals: ["room", "text..."] },
  "chat subscribe": { options: ["user", "after", "count"], positionals: ["room"] },
  "chat history": { options: ["before", "after", "limit"], positionals: ["room"] },
};

/** Long-lived streams that end when the user (or `--count`) says so: no deadline by default. */
const UNBOUNDED_BY_DEFAULT: readonly CommandName[] = ["chat join", "chat subscribe"];

function isCommandName(name: string): name is CommandName {
  // The chat commands are spelled as two words, never as one argument.
  return !name.includes(" ") && Object.hasOwn(COMMANDS, name);
}

/** A non-negative decimal integer, or a usage error naming the flag. */
function integer(flag: string, text: string, min: number, max: number): number {
  const value = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max))
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max} (got "${text}")`);
  return value;
}

/** A message sequence number (uint64), or a usage error naming the flag. */
function sequence(flag: string, text: string): bigint {
  const value = /^\d{1,20}$/.test(text) ? BigInt(text) : -1n;
  if (value < 0n || value > MAX_UINT64)
    throw new UsageError(`--${flag} must be a sequence number from 0 to ${MAX_UINT64} (got "${text}")`);
  return value;
}

function required(values: Values, flag: "username" | "email" | "password" | "user", command: CommandName): string {
  const value = values[flag];
  if (value === undefined || (flag === "user" && value === "")) throw new UsageError(`${command} needs --${flag}`);
  return value;
}

/** The command name: the first positional, or `chat <subcommand>` from the first two. */
function commandName(positionals: readonly string[]): { name: CommandName; args: string[] } {
  const [first, ...rest] = positionals;
  if (first === undefined) throw new UsageError("a command is required");
  if (first === "chat") {
    const [sub, ...args] = rest;
    const subcommands = CHAT_SUBCOMMANDS.join(", ");
    if (sub === undefined) throw new UsageError(`chat needs a subcommand: ${subcommands}`);
    if (!(CHAT_SUBCOMMANDS as readonly string[]).includes(sub))
      throw new UsageError(`unknown chat subcommand "${sub}" (one of ${subcommands})`);
    return { name: `chat ${sub}` as CommandName, args };
  }
  if (!isCommandName(first)) throw new UsageError(`unknown command "${first}"`);
  return { name: first, args: rest };
}

function toCommand(name: CommandName, values: Values, args: string[]): Command {
  const [id = ""] = args;
  if ((name === "get" || name === "update" || name === "delete") && id === "")
    throw new UsageError(`${name} needs a non-empty <id>`);
  if (name.startsWith("chat ") && id === "") throw new UsageError(`${name} needs a non-empty <room>`);
  const room = id;
  const after = values.after === undefined ? undefined : sequence("after", values.after);
  switch (name) {
    case "get":
    case "delete":
      return { name, id };
    case "create":
      return {
        name,
        username: required(values, "username", name),
        email: required(values, "email", name),
        password: required(values, "password", name),
      };
    case "update": {
      if (values.username === undefined && values.email === undefined)
        throw new UsageError("update needs --username, --email or both");
      return {
        name,
        id,
        ...(values.username !== undefined && { username: values.username }),
        ...(values.email !== undefined && { email: values.email }),
      };
    }
    case "list":
      return {
        name,
        pageSize: values["page-size"] === undefined ? 0 : integer("page-size", values["page-size"], 0, 2 ** 31 - 1),
        pageToken: values["page-token"] ?? "",
      };
    case "create-many": {
      if (values.prefix !== undefined && values.count === undefined)
        throw new UsageError("--prefix only goes with --count");
      return {
        name,
        ...(values.count !== undefined && { count: integer("count", values.count, 1, MAX_CREATE_MANY) }),
        ...(values.prefix !== undefined && { prefix: values.prefix }),
      };
    }
    case "echo":
      return { name, userId: values["user-id"] ?? "cli" };
    case "demo":
      return { name };
    case "token":
      return tokenCommand(values);
    case "chat join":
      return {
        name,
        room,
        userId: required(values, "user", name),
        ...(after !== undefined && { afterSequence: after }),
      };
    case "chat send":
      // The words after the room, as the shell split them; the service judges the text (empty: INVALID_ARGUMENT).
      return { name, room, userId: required(values, "user", name), text: args.slice(1).join(" ") };
    case "chat subscribe":
      return {
        name,
        room,
        userId: values.user ?? "",
        ...(after !== undefined && { afterSequence: after }),
        ...(values.count !== undefined && { count: integer("count", values.count, 1, 2 ** 31 - 1) }),
      };
    case "chat history": {
      if (values.before !== undefined && after !== undefined)
        throw new UsageError("chat history takes --before or --after, not both");
      return {
        name,
        room,
        ...(values.before !== undefined && { beforeSequence: sequence("before", values.before) }),
        ...(after !== undefined && { afterSequence: after }),
        ...(values.limit !== undefined && { limit: integer("limit", values.limit, 1, MAX_UINT32) }),
      };
    }
  }
}

function tokenCommand(values: Values): TokenCommand {
  const subject = values.subject;
  if (subject === undefined || subject === "") throw new UsageError("token needs --subject");
  const roles = (values.roles ?? "user")
    .split(",")
    .map((role) => role.trim())
    .filter((role) => role !== "");
  const ttl = values.ttl ?? "1h";
  const ttlSeconds = parseTtl(ttl);
  if (ttlSeconds === undefined || ttlSeconds < 1 || ttlSeconds > MAX_TOKEN_TTL_S)
    throw new UsageError(`--ttl must be a duration like 90s, 30m, 1h or 7d, at most 30d (got "${ttl}")`);
  const secretEnv = values["secret-env"] ?? DEFAULT_SECRET_ENV;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(secretEnv))
    throw new UsageError(`--secret-env must name an environment variable (got "${secretEnv}")`);
  const issuer = values.issuer ?? DEVELOPMENT_ISSUER;
  const audience = values.audience ?? DEVELOPMENT_AUDIENCE;
  if (issuer === "" || audience === "") throw new UsageError("--issuer and --audience must not be empty");
  return { name: "token", subject, roles, ttlSeconds, secretEnv, issuer, audience };
}

/** The token every call sends: `--token`, else POLYRPC_TOKEN (unset or empty: none). */
function bearerTokenOf(values: Values, env: CliEnv): string | undefined {
  if (values.token !== undefined) {
    if (!isBearerToken(values.token)) throw new UsageError('--token must be a bare token: no spaces, no "Bearer "');
    return values.token;
  }
  const token = env.POLYRPC_TOKEN?.trim();
  if (!token) return undefined;
  if (!isBearerToken(token)) throw new UsageError('POLYRPC_TOKEN must be a bare token: no spaces, no "Bearer "');
  return token;
}

/**
 * Parses the CLI's arguments (without `node` and the script). Global options may come before or
 * after the subcommand. Throws UsageError for anything the CLI cannot run.
 */
export function parseCliArgs(argv: readonly string[], env: CliEnv = {}): CliArgs {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    // node:util reports unknown flags and missing values as TypeErrors with an ERR_PARSE_ARGS_* code.
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === "help") return { kind: "help" };
  const { name, args } = commandName(positionals);

  const spec = COMMANDS[name];
  for (const flag of Object.keys(values) as OptionName[]) {
    if (!GLOBAL_OPTIONS.includes(flag) && !spec.options.includes(flag))
      throw new UsageError(`${name} does not take --${flag}`);
  }
  const variadic = spec.positionals.at(-1)?.endsWith("...") ?? false;
  const expected = spec.positionals.map((p) => `<${p}>`).join(" ");
  if (!variadic && args.length > spec.positionals.length) {
    throw new UsageError(
      `${name} takes ${spec.positionals.length === 0 ? "no arguments" : expected}, got "${args.join(" ")}"`,
    );
  }
  if (variadic && args.length < spec.positionals.length) throw new UsageError(`${name} takes ${expected}`);

  const target = values.target ?? (env.POLYRPC_TARGET || DEFAULT_TARGET);
  if (target === "") throw new UsageError("--target must not be empty");
  const chatTarget = values["chat-target"] ?? (env.POLYRPC_CHAT_TARGET || DEFAULT_CHAT_TARGET);
  if (chatTarget === "") throw new UsageError("--chat-target must not be empty");
  const timeoutMs =
    values.timeout !== undefined
      ? integer("timeout", values.timeout, 0, 24 * 3600 * 1000)
      : UNBOUNDED_BY_DEFAULT.includes(name)
        ? 0
        : DEFAULT_TIMEOUT_MS;
  const token = bearerTokenOf(values, env);
  const tls = tlsOf(values);
  const loadBalancing = values.lb ?? "pick_first";
  if (!isLoadBalancing(loadBalancing)) {
    throw new UsageError(`--lb must be ${LOAD_BALANCING_POLICIES.join(" or ")}, got "${loadBalancing}"`);
  }
  return {
    kind: "run",
    global: {
      target,
      chatTarget,
      timeoutMs,
      json: values.json ?? false,
      loadBalancing,
      ...(token !== undefined && { token }),
      ...(tls !== undefined && { tls }),
    },
    command: toCommand(name, values, args),
  };
}

function isLoadBalancing(value: string): value is LoadBalancing {
  return (LOAD_BALANCING_POLICIES as readonly string[]).includes(value);
}

/** `--tls`, `--ca`, `--cert`, `--key`: undefined for plaintext. A certificate needs its key. */
function tlsOf(values: Values): TlsFiles | undefined {
  const { ca, cert, key } = values;
  if (!values.tls && ca === undefined && cert === undefined && key === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--cert and --key go together");
  for (const [flag, file] of [
    ["--ca", ca],
    ["--cert", cert],
    ["--key", key],
  ] as const) {
    if (file === "") throw new UsageError(`${flag} needs a file`);
  }
  return { ...(ca !== undefined && { ca }), ...(cert !== undefined && { cert }), ...(key !== undefined && { key }) };
}
