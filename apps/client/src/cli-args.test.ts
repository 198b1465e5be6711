import { describe, expect, it } from "vitest";
import { DEFAULT_TARGET, DEFAULT_TIMEOUT_MS, parseCliArgs, UsageError } from "./cli-args.js";

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
      global: { target: DEFAULT_TARGET, timeoutMs: DEFAULT_TIMEOUT_MS, json: false },
      command: { name: "demo" },
    });
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
    expect(command(["chat"])).toEqual({ name: "chat", userId: "cli" });
    expect(command(["chat", "--user-id", "u-9"])).toEqual({ name: "chat", userId: "u-9" });
    expect(command(["demo"])).toEqual({ name: "demo" });
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
  ])("rejects %j with a usage error", (argv, message) => {
    expect(usageError(argv as string[])).toMatch(message);
  });
});
