import { parseArgs, type ParseArgsConfig } from "node:util";

/** The target the CLI dials when neither `--target` nor POLYRPC_TARGET says otherwise. */
export const DEFAULT_TARGET = "localhost:50051";
/** Default deadline of each call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 5000;
/** Most users CreateUsers accepts in one call. */
export const MAX_CREATE_MANY = 1000;

/** What every subcommand shares. */
export interface GlobalOptions {
  target: string;
  /** Deadline of each call in milliseconds; 0 means no deadline. */
  timeoutMs: number;
  json: boolean;
}

/** One subcommand with its arguments, checked and typed. */
export type Command =
  | { name: "get"; id: string }
  | { name: "create"; username: string; email: string; password: string }
  | { name: "update"; id: string; username?: string; email?: string }
  | { name: "delete"; id: string }
  | { name: "list"; pageSize: number; pageToken: string }
  | { name: "create-many"; count?: number; prefix?: string }
  | { name: "chat"; userId: string }
  | { name: "demo" };

export type CommandName = Command["name"];

/** The outcome of parsing: run a command, or print the help. */
export type CliArgs = { kind: "help" } | { kind: "run"; global: GlobalOptions; command: Command };

/** The command line is wrong; the CLI prints the message and the usage and exits with 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The environment variables the CLI reads (passed in, so that parsing stays pure). */
export interface CliEnv {
  POLYRPC_TARGET?: string | undefined;
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
  chat [--user-id ID]                               Chat (bidi): sends each stdin line, prints echoes
  demo                                              Runs every call pattern and checks the answers

Global options:
  --target host:port   UserService address (default: $POLYRPC_TARGET or ${DEFAULT_TARGET})
  --timeout ms         deadline of each call (default: ${DEFAULT_TIMEOUT_MS}; 0 = none)
  --json               one JSON object per line (protobuf JSON); errors as {"error":{...}}
  -h, --help           show this help

Exit status: 0 success, 1 the call (or a demo step) failed, 2 bad usage.`;

const options = {
  target: { type: "string" },
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
} as const satisfies ParseArgsConfig["options"];

type OptionName = keyof typeof options;
type Values = { [K in OptionName]?: (typeof options)[K]["type"] extends "boolean" ? boolean : string };

const GLOBAL_OPTIONS: readonly OptionName[] = ["target", "timeout", "json", "help"];

/** The options and number of positional arguments each subcommand takes. */
const COMMANDS: Record<CommandName, { options: readonly OptionName[]; positionals: readonly string[] }> = {
  get: { options: [], positionals: ["id"] },
  create: { options: ["username", "email", "password"], positionals: [] },
  update: { options: ["username", "email"], positionals: ["id"] },
  delete: { options: [], positionals: ["id"] },
  list: { options: ["page-size", "page-token"], positionals: [] },
  "create-many": { options: ["count", "prefix"], positionals: [] },
  chat: { options: ["user-id"], positionals: [] },
  demo: { options: [], positionals: [] },
};

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** A non-negative decimal integer, or a usage error naming the flag. */
function integer(flag: string, text: string, min: number, max: number): number {
  const value = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max))
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max} (got "${text}")`);
  return value;
}

function required(values: Values, flag: "username" | "email" | "password", command: CommandName): string {
  const value = values[flag];
  if (value === undefined) throw new UsageError(`${command} needs --${flag}`);
  return value;
}

function toCommand(name: CommandName, values: Values, args: string[]): Command {
  const [id = ""] = args;
  if ((name === "get" || name === "update" || name === "delete") && id === "")
    throw new UsageError(`${name} needs a non-empty <id>`);
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
    case "chat":
      return { name, userId: values["user-id"] ?? "cli" };
    case "demo":
      return { name };
  }
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
  const [name, ...args] = positionals;
  if (values.help || name === "help") return { kind: "help" };
  if (name === undefined) throw new UsageError("a command is required");
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"`);

  const spec = COMMANDS[name];
  for (const flag of Object.keys(values) as OptionName[]) {
    if (!GLOBAL_OPTIONS.includes(flag) && !spec.options.includes(flag))
      throw new UsageError(`${name} does not take --${flag}`);
  }
  if (args.length > spec.positionals.length) {
    throw new UsageError(
      `${name} takes ${spec.positionals.length === 0 ? "no arguments" : spec.positionals.map((p) => `<${p}>`).join(" ")}, got "${args.join(" ")}"`,
    );
  }

  const target = values.target ?? (env.POLYRPC_TARGET || DEFAULT_TARGET);
  if (target === "") throw new UsageError("--target must not be empty");
  const timeoutMs =
    values.timeout === undefined ? DEFAULT_TIMEOUT_MS : integer("timeout", values.timeout, 0, 24 * 3600 * 1000);
  return {
    kind: "run",
    global: { target, timeoutMs, json: values.json ?? false },
    command: toCommand(name, values, args),
  };
}
