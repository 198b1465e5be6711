import { describe, expect, it } from "vitest";
import {
  DEFAULT_CHAT_TARGET,
  DEFAULT_TARGET,
  DEFAULT_TIMEOUT_MS,
  isChatCommand,
  parseCliArgs,
  UsageError,
  type CliEnv,
} from "./cli-args.js";

function command(argv: string[]) {
  const args = parseCliArgs(argv);
  if (args.kind !== "run") throw new Error("expected a command");
  return args.command;
}

function usageError(argv: string[], env = {}): string {
  try {
    parseCliArgs(argv, env);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

describe("parseCliArgs", () => {
  it("uses the defaults when no global option is given", () => {
    expect(parseCliArgs(["demo"])).toEqual({
      kind: "run",
      global: {
        target: DEFAULT_TARGET,
        chatTarget: DEFAULT_CHAT_TARGET,
        timeoutMs: DEFAULT_TIMEOUT_MS,
        json: false,
        loadBalancing: "pick_first",
      },
      command: { name: "demo" },
    });
  });

  it("takes --lb round_robin or pick_first, and refuses any other policy", () => {
    expect(parseCliArgs(["--lb", "round_robin", "get", "u-1"])).toMatchObject({
      global: { loadBalancing: "round_robin" },
    });
    expect(parseCliArgs(["get", "u-1", "--lb=pick_first"])).toMatchObject({ global: { loadBalancing: "pick_first" } });
    expect(usageError(["--lb", "least_request", "get", "u-1"])).toBe(
      '--lb must be pick_first or round_robin, got "least_request"',
    );
  });

  it("takes the chat target from POLYRPC_CHAT_TARGET, and --chat-target over it, apart from --target", () => {
    const env = { POLYRPC_TARGET: "users:7000", POLYRPC_CHAT_TARGET: "chat:7001" };
    expect(parseCliArgs(["chat", "history", "lobby"], env)).toMatchObject({
      global: { target: "users:7000", chatTarget: "chat:7001" },
    });
    expect(parseCliArgs(["--chat-target", "10.0.0.2:50052", "chat", "history", "lobby"], env)).toMatchObject({
      global: { target: "users:7000", chatTarget: "10.0.0.2:50052" },
    });
    expect(parseCliArgs(["chat", "history", "lobby", "--chat-target=c:1", "--target", "u:2"])).toMatchObject({
      global: { target: "u:2", chatTarget: "c:1" },
    });
    expect(parseCliArgs(["chat", "history", "lobby"], { POLYRPC_CHAT_TARGET: "" })).toMatchObject({
      global: { chatTarget: DEFAULT_CHAT_TARGET },
    });
  });

  it("gives chat join and chat subscribe no deadline unless --timeout is given, and the rest the default", () => {
    const timeout = (argv: string[]) => {
      const args = parseCliArgs(argv);
      return args.kind === "run" ? args.global.timeoutMs : undefined;
    };
    expect(timeout(["chat", "join", "lobby", "--user", "u-1"])).toBe(0);
    expect(timeout(["chat", "subscribe", "lobby"])).toBe(0);
    expect(timeout(["chat", "join", "lobby", "--user", "u-1", "--timeout", "9000"])).toBe(9000);
    expect(timeout(["chat", "subscribe", "lobby", "--count", "2", "--timeout", "100"])).toBe(100);
    expect(timeout(["chat", "send", "lobby", "--user", "u-1", "hi"])).toBe(DEFAULT_TIMEOUT_MS);
    expect(timeout(["chat", "history", "lobby"])).toBe(DEFAULT_TIMEOUT_MS);
    expect(timeout(["echo"])).toBe(DEFAULT_TIMEOUT_MS);
  });

  it("takes the target from POLYRPC_TARGET, and --target over it", () => {
    const env = { POLYRPC_TARGET: "users:7000" };
    expect(parseCliArgs(["demo"], env)).toMatchObject({ global: { target: "users:7000" } });
    expect(parseCliArgs(["demo", "--target", "10.0.0.1:50051"], env)).toMatchObject({
      global: { target: "10.0.0.1:50051" },
    });
  });

  it("accepts global options before and after the command", () => {
    expect(parseCliArgs(["--json", "--timeout", "250", "get", "u-1"])).toMatchObject({
      global: { json: true, timeoutMs: 250 },
      command: { name: "get", id: "u-1" },
    });
    expect(parseCliArgs(["get", "u-1", "--timeout=0", "--json"])).toMatchObject({
      global: { json: true, timeoutMs: 0 },
      command: { name: "get", id: "u-1" },
    });
  });

  it("asks for help with --help, -h or help, wherever it appears", () => {
    for (const argv of [["--help"], ["-h"], ["help"], ["get", "--help"], ["create", "-h", "--username", "x"]]) {
      expect(parseCliArgs(argv)).toEqual({ kind: "help" });
    }
  });

  it("parses every subcommand", () => {
    expect(command(["get", "u-1"])).toEqual({ name: "get", id: "u-1" });
    expect(command(["create", "--username", "ann", "--email", "ann@example.com", "--password", "secret123"])).toEqual({
      name: "create",
      username: "ann",
      email: "ann@example.com",
      password: "secret123",
    });
    expect(command(["update", "u-1", "--email", "new@example.com"])).toEqual({
      name: "update",
      id: "u-1",
      email: "new@example.com",
    });
    expect(command(["update", "u-1", "--username", "ann2", "--email", "x@example.com"])).toEqual({
      name: "update",
      id: "u-1",
      username: "ann2",
      email: "x@example.com",
    });
    expect(command(["delete", "u-1"])).toEqual({ name: "delete", id: "u-1" });
    expect(command(["list"])).toEqual({ name: "list", pageSize: 0, pageToken: "" });
    expect(command(["list", "--page-size", "2", "--page-token", "dTE6Mg"])).toEqual({
      name: "list",
      pageSize: 2,
      pageToken: "dTE6Mg",
    });
    expect(command(["create-many"])).toEqual({ name: "create-many" });
    expect(command(["create-many", "--count", "5", "--prefix", "load"])).toEqual({
      name: "create-many",
      count: 5,
      prefix: "load",
    });
    expect(command(["echo"])).toEqual({ name: "echo", userId: "cli" });
    expect(command(["echo", "--user-id", "u-9"])).toEqual({ name: "echo", userId: "u-9" });
    expect(command(["demo"])).toEqual({ name: "demo" });
  });

  it("parses every chat subcommand", () => {
    expect(command(["chat", "join", "lobby", "--user", "u-1"])).toEqual({
      name: "chat join",
      room: "lobby",
      userId: "u-1",
    });
    expect(command(["chat", "join", "lobby", "--user", "u-1", "--after", "0"])).toEqual({
      name: "chat join",
      room: "lobby",
      userId: "u-1",
      afterSequence: 0n,
    });
    expect(command(["chat", "send", "lobby", "--user", "u-1", "hello"])).toEqual({
      name: "chat send",
      room: "lobby",
      userId: "u-1",
      text: "hello",
    });
    expect(command(["chat", "send", "--user", "u-1", "lobby", "hello,", "  world"])).toEqual({
      name: "chat send",
      room: "lobby",
      userId: "u-1",
      text: "hello,   world",
    });
    expect(command(["chat", "send", "lobby", "--user", "u-1", ""])).toMatchObject({ text: "" });
    expect(command(["chat", "send", "lobby", "--user", "u-1", "--", "--not-a-flag"])).toMatchObject({
      text: "--not-a-flag",
    });
    expect(command(["chat", "subscribe", "lobby"])).toEqual({ name: "chat subscribe", room: "lobby", userId: "" });
    expect(command(["chat", "subscribe", "lobby", "--user", "u-1", "--after", "12", "--count", "3"])).toEqual({
      name: "chat subscribe",
      room: "lobby",
      userId: "u-1",
      afterSequence: 12n,
      count: 3,
    });
    expect(command(["chat", "history", "lobby"])).toEqual({ name: "chat history", room: "lobby" });
    expect(command(["chat", "history", "lobby", "--before", "18446744073709551615", "--limit", "2"])).toEqual({
      name: "chat history",
      room: "lobby",
      beforeSequence: 2n ** 64n - 1n,
      limit: 2,
    });
    expect(command(["chat", "history", "lobby", "--after", "7"])).toEqual({
      name: "chat history",
      room: "lobby",
      afterSequence: 7n,
    });
  });

  it("tells the chat commands from the UserService ones", () => {
    expect(isChatCommand(command(["chat", "history", "lobby"]))).toBe(true);
    expect(isChatCommand(command(["echo"]))).toBe(false);
    expect(isChatCommand(command(["get", "u-1"]))).toBe(false);
  });

  it("takes an id that starts with a dash after --", () => {
    expect(command(["get", "--", "-odd-id"])).toEqual({ name: "get", id: "-odd-id" });
  });

  it.each([
    [[], /a command is required/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["demo", "--bogus"], /Unknown option '--bogus'/],
    [["--target"], /argument missing/],
    [["get"], /get needs a non-empty <id>/],
    [["get", ""], /get needs a non-empty <id>/],
    [["get", "a", "b"], /get takes <id>, got "a b"/],
    [["delete"], /delete needs a non-empty <id>/],
    [["list", "extra"], /list takes no arguments/],
    [["get", "u-1", "--username", "x"], /get does not take --username/],
    [["demo", "--count", "3"], /demo does not take --count/],
    [["create", "--username", "ann", "--email", "ann@example.com"], /create needs --password/],
    [["update", "u-1"], /update needs --username, --email or both/],
    [["list", "--page-size", "-1"], /--page-size/],
    [["list", "--page-size=-1"], /--page-size must be an integer from 0/],
    [["list", "--page-size", "two"], /--page-size must be an integer from 0/],
    [["list", "--page-size", "1.5"], /--page-size must be an integer/],
    [["create-many", "--count", "0"], /--count must be an integer from 1 to 1000/],
    [["create-many", "--count", "1001"], /--count must be an integer from 1 to 1000/],
    [["create-many", "--prefix", "p"], /--prefix only goes with --count/],
    [["demo", "--timeout", "soon"], /--timeout must be an integer/],
    [["demo", "--target", ""], /--target must not be empty/],
    [["demo", "--json=yes"], /does not take an argument/],
    [["chat"], /chat needs a subcommand: join, send, subscribe, history/],
    [["chat", "talk"], /unknown chat subcommand "talk"/],
    [["chat join"], /unknown command "chat join"/],
    [["chat", "join"], /chat join needs a non-empty <room>/],
    [["chat", "join", "", "--user", "u-1"], /chat join needs a non-empty <room>/],
    [["chat", "join", "lobby"], /chat join needs --user/],
    [["chat", "join", "lobby", "--user", ""], /chat join needs --user/],
    [["chat", "join", "lobby", "extra", "--user", "u-1"], /chat join takes <room>, got "lobby extra"/],
    [["chat", "join", "lobby", "--user", "u-1", "--count", "2"], /chat join does not take --count/],
    [["chat", "join", "lobby", "--user", "u-1", "--after", "-1"], /--after/],
    [["chat", "join", "lobby", "--user", "u-1", "--after", "x"], /--after must be a sequence number/],
    [["chat", "join", "lobby", "--user", "u-1", "--after", "18446744073709551616"], /--after must be a sequence/],
    [["chat", "send", "lobby", "--user", "u-1"], /chat send takes <room> <text...>/],
    [["chat", "send", "lobby", "hi"], /chat send needs --user/],
    [["chat", "send", "lobby", "--user", "u-1", "--after", "1", "hi"], /chat send does not take --after/],
    [["chat", "subscribe", "lobby", "--count", "0"], /--count must be an integer from 1/],
    [["chat", "history", "lobby", "--before", "3", "--after", "1"], /takes --before or --after, not both/],
    [["chat", "history", "lobby", "--limit", "0"], /--limit must be an integer from 1 to 4294967295/],
    [["chat", "history", "lobby", "--user", "u-1"], /chat history does not take --user/],
    [["chat", "history", "lobby", "--chat-target", ""], /--chat-target must not be empty/],
    [["echo", "--user", "u-1"], /echo does not take --user/],
  ])("rejects %j with a usage error", (argv, message) => {
    expect(usageError(argv as string[])).toMatch(message);
  });
});

describe("parseCliArgs bearer tokens", () => {
  const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";

  it("sends no token unless --token or POLYRPC_TOKEN gives one", () => {
    const globalOf = (env: CliEnv) => (parseCliArgs(["demo"], env) as { global: object }).global;
    expect(globalOf({})).not.toHaveProperty("token");
    expect(globalOf({ POLYRPC_TOKEN: "" })).not.toHaveProperty("token");
  });

  it("takes the token from POLYRPC_TOKEN, and --token over it, for user and chat commands alike", () => {
    const env = { POLYRPC_TOKEN: "from.env.token" };
    expect(parseCliArgs(["get", "u-1"], env)).toMatchObject({ global: { token: "from.env.token" } });
    expect(parseCliArgs(["--token", JWT, "get", "u-1"], env)).toMatchObject({ global: { token: JWT } });
    expect(parseCliArgs(["chat", "history", "lobby", "--token", JWT])).toMatchObject({ global: { token: JWT } });
  });

  it.each([
    [["--token", "", "demo"], {}, /--token must be a bare token/],
    [["--token", `Bearer ${JWT}`, "demo"], {}, /--token must be a bare token/],
    [["demo"], { POLYRPC_TOKEN: `Bearer ${JWT}` }, /POLYRPC_TOKEN must be a bare token/],
    [["--token"], {}, /argument missing/],
  ])("rejects %j (env %j) with a usage error", (argv, env, message) => {
    expect(usageError(argv as string[], env)).toMatch(message);
  });
});

describe("parseCliArgs token", () => {
  it("mints for a subject with the user role for an hour by default", () => {
    expect(command(["token", "--subject", "ada"])).toEqual({
      name: "token",
      subject: "ada",
      roles: ["user"],
      ttlSeconds: 3600,
      secretEnv: "AUTH_HS256_SECRET",
      issuer: "polyrpc-dev",
      audience: "polyrpc",
    });
  });

  it("takes roles, a lifetime, the secret's variable, the issuer and the audience", () => {
    expect(
      command([
        "token",
        "--subject",
        "ada",
        "--roles",
        "admin, user",
        "--ttl",
        "15m",
        "--secret-env",
        "DEV_SECRET",
        "--issuer",
        "https://id.example",
        "--audience",
        "chat",
      ]),
    ).toEqual({
      name: "token",
      subject: "ada",
      roles: ["admin", "user"],
      ttlSeconds: 900,
      secretEnv: "DEV_SECRET",
      issuer: "https://id.example",
      audience: "chat",
    });
    expect(command(["token", "--subject", "ada", "--roles", ""])).toMatchObject({ roles: [] });
  });

  it.each([
    [["token"], /token needs --subject/],
    [["token", "--subject", ""], /token needs --subject/],
    [["token", "--subject", "ada", "--ttl", "0"], /--ttl must be a duration/],
    [["token", "--subject", "ada", "--ttl", "31d"], /at most 30d/],
    [["token", "--subject", "ada", "--ttl", "1 hour"], /--ttl must be a duration/],
    [["token", "--subject", "ada", "--secret-env", "A-B"], /--secret-env must name an environment variable/],
    [["token", "--subject", "ada", "--audience", ""], /--issuer and --audience must not be empty/],
    [["get", "u-1", "--subject", "ada"], /get does not take --subject/],
  ])("rejects %j with a usage error", (argv, message) => {
    expect(usageError(argv as string[])).toMatch(message);
  });
});
