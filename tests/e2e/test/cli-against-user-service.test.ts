import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, startUserService, type UserServiceProcess } from "./processes.js";

interface StepLine {
  step: number;
  of: number;
  rpc: string;
  pattern: string;
  ok: boolean;
  summary: string;
  response?: unknown;
  error?: { code: string; message: string };
}

describe("the polyrpc CLI against the real user service", () => {
  let dir: string;
  let databasePath: string;
  let service: UserServiceProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-e2e-"));
    databasePath = join(dir, "users.db");
    service = await startUserService({ DATABASE_PATH: databasePath });
  });

  afterAll(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its users in an SQLite file on disk", () => {
    expect(existsSync(databasePath)).toBe(true);
  });

  it("runs the demo: every call pattern, step by step, exit 0", async () => {
    const run = await runCli(service.target, ["demo"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^polyrpc demo, run [0-9a-f]{8}: 8 steps/);
    expect(lines.slice(1, 9).map((l) => l.match(/^\[(\d)\/8\] (\w+) \(([\w ]+)\)/)?.slice(1))).toEqual([
      ["1", "CreateUsers", "client stream"],
      ["2", "CreateUser", "unary"],
      ["3", "GetUser", "unary"],
      ["4", "UpdateUser", "unary"],
      ["5", "ListUsers", "server stream"],
      ["6", "Chat", "bidi stream"],
      ["7", "DeleteUser", "unary"],
      ["8", "GetUser", "unary"],
    ]);
    expect(lines.slice(1, 9).every((l) => l.endsWith("... ok"))).toBe(true);
    expect(run.stdout).toContain("created 3 users in one call");
    expect(run.stdout).toMatch(/4 users in 2 pages of at most 2, following next-page-token/);
    expect(run.stdout).toContain('got "Echo: hello", "Echo: how are you?", "Echo: bye"');
    expect(run.stdout).toMatch(/NOT_FOUND as expected \(user "[0-9a-f-]{36}" not found\)/);
    expect(lines.at(-1)).toBe("demo passed: all 8 steps behaved as expected");
  });

  it("runs the demo with --json: one object per step, all ok", async () => {
    const run = await runCli(service.target, ["demo", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const steps = run.json() as unknown as StepLine[];
    expect(steps.map((s) => [s.step, s.rpc, s.pattern, s.ok])).toEqual([
      [1, "CreateUsers", "client_streaming", true],
      [2, "CreateUser", "unary", true],
      [3, "GetUser", "unary", true],
      [4, "UpdateUser", "unary", true],
      [5, "ListUsers", "server_streaming", true],
      [6, "Chat", "bidi_streaming", true],
      [7, "DeleteUser", "unary", true],
      [8, "GetUser", "unary", true],
    ]);
    const [created, , , updated, listed, chat, deleted, gone] = steps;
    expect(created!.response).toMatchObject({ count: 3 });
    expect((created!.response as { users: unknown[] }).users).toHaveLength(3);
    expect(updated!.response).toMatchObject({ username: expect.stringMatching(/^demo-[0-9a-f]{8}-renamed$/) });
    // The first run left 3 users (it deleted its fourth); this run adds 4 more before listing.
    expect(listed!.response).toEqual({ pages: 4, users: 7, pageSizes: [2, 2, 2, 1] });
    expect((chat!.response as Array<{ text: string }>).map((m) => m.text)).toEqual([
      "Echo: hello",
      "Echo: how are you?",
      "Echo: bye",
    ]);
    expect(deleted!.response).toEqual({ success: true });
    expect(gone!.error).toEqual({
      code: "NOT_FOUND",
      message: expect.stringMatching(/^user "[0-9a-f-]{36}" not found$/),
    });
    expect(gone!.response).toBeUndefined();
  });

  it("runs the demo again and again against the same database", async () => {
    const listedUsers = async () => {
      const run = await runCli(service.target, ["demo", "--json"]);
      expect(run.code, run.stderr).toBe(0);
      const steps = run.json() as unknown as StepLine[];
      expect(steps.every((s) => s.ok)).toBe(true);
      return (steps[4]!.response as { users: number }).users;
    };
    const first = await listedUsers();
    const second = await listedUsers();
    expect(second - first).toBe(3);
  });

  it("creates a user, reads it back, and reports an unknown id as NOT_FOUND with exit 1", async () => {
    const created = await runCli(service.target, [
      "create",
      "--json",
      "--username",
      "e2e_alice",
      "--email",
      "alice@e2e.example.com",
      "--password",
      "correct-horse",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const [user] = created.json();
    expect(user).toMatchObject({ username: "e2e_alice", email: "alice@e2e.example.com", roles: ["user"] });
    expect(user).not.toHaveProperty("password");

    const got = await runCli(service.target, ["get", String(user!.id)]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(
      new RegExp(`^${user!.id}  e2e_alice  <alice@e2e.example.com>  created \\S+  roles user\\n$`),
    );

    const again = await runCli(service.target, [
      "create",
      "--username",
      "e2e_alice",
      "--email",
      "other@e2e.example.com",
      "--password",
      "correct-horse",
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: ALREADY_EXISTS: a user with username "e2e_alice" already exists\n');

    const missing = await runCli(service.target, ["get", "no-such-user"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe('error: NOT_FOUND: user "no-such-user" not found\n');

    const missingJson = await runCli(service.target, ["--json", "get", "no-such-user"]);
    expect(missingJson.code).toBe(1);
    expect(JSON.parse(missingJson.stderr)).toEqual({
      error: { code: "NOT_FOUND", message: 'user "no-such-user" not found' },
    });
  });

  it("lists users as JSON lines, page by page, following the next page token", async () => {
    const all = await runCli(service.target, ["list", "--json"]);
    expect(all.code, all.stderr).toBe(0);
    const users = all.json();
    expect(users.length).toBeGreaterThan(3);
    expect(users.every((u) => typeof u.id === "string" && typeof u.username === "string")).toBe(true);
    expect(users.some((u) => "nextPageToken" in u)).toBe(false);

    const paged: Array<Record<string, unknown>> = [];
    let token: string | undefined;
    do {
      const run = await runCli(service.target, [
        "list",
        "--json",
        "--page-size",
        "5",
        ...(token ? ["--page-token", token] : []),
      ]);
      expect(run.code, run.stderr).toBe(0);
      const lines = run.json();
      const last = lines.at(-1);
      token = typeof last?.nextPageToken === "string" ? last.nextPageToken : undefined;
      paged.push(...lines.filter((l) => !("nextPageToken" in l)));
    } while (token);
    expect(paged.map((u) => u.id)).toEqual(users.map((u) => u.id));
  });

  it("creates users from JSON lines on stdin, all or nothing", async () => {
    const line = (name: string, password = "long-enough") =>
      JSON.stringify({ username: name, email: `${name}@e2e.example.com`, password });
    const ok = await runCli(service.target, ["create-many"], { stdin: `${line("e2e_bulk1")}\n${line("e2e_bulk2")}\n` });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/e2e_bulk1[\s\S]*e2e_bulk2[\s\S]*created 2 users\n$/);

    const bad = await runCli(service.target, ["create-many", "--json"], {
      stdin: `${line("e2e_bulk3")}\n${line("e2e_bulk4", "short")}\n`,
    });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stderr)).toEqual({
      error: { code: "INVALID_ARGUMENT", message: "requests[1].password: must be at least 8 characters" },
    });
    const list = await runCli(service.target, ["list", "--json"]);
    expect(list.json().map((u) => u.username)).not.toContain("e2e_bulk3");
  });

  it("echoes: every stdin line comes back from UserService.Chat", async () => {
    const run = await runCli(service.target, ["echo"], { stdin: "one\ntwo\nthree\n" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("Echo: one\nEcho: two\nEcho: three\n");
  });

  it("exits 2 with the usage for bad usage", async () => {
    const run = await runCli(service.target, ["get", "--page-size", "2"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^polyrpc: get does not take --page-size\n\nUsage: polyrpc/);
  });

  it("stops on SIGTERM with exit code 0, and the users survive a restart", async () => {
    service.child.kill("SIGTERM");
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(service.output()).toMatch(/"msg":"server stopped"/);

    service = await startUserService({ DATABASE_PATH: databasePath });
    const list = await runCli(service.target, ["list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json().map((u) => u.username)).toContain("e2e_alice");
    service.child.kill("SIGTERM");
    expect(await service.exited).toEqual({ code: 0, signal: null });
  });
});
