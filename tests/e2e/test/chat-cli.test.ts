import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  killAll,
  runCli,
  startChatApp,
  startCli,
  startUserService,
  type ChatAppProcess,
  type CliOptions,
  type UserServiceProcess,
} from "./processes.js";

/** Output with the local clock of each message replaced, so that transcripts compare exactly. */
function transcript(stdout: string): string[] {
  return stdout
    .trimEnd()
    .split("\n")
    .map((line) => line.replace(/^(#\d+) \d\d:\d\d:\d\d /, "$1 HH:MM:SS "));
}

describe("the polyrpc chat commands against the real chat app and user service", () => {
  let dir: string;
  let users: UserServiceProcess;
  let chat: ChatAppProcess;
  let ann: string;
  let bob: string;

  const withChat = (options: CliOptions = {}): CliOptions => ({
    ...options,
    env: { POLYRPC_CHAT_TARGET: chat.target, ...options.env },
  });
  const cli = (args: string[], options: CliOptions & { stdin?: string } = {}) =>
    runCli(users.target, args, withChat(options));
  const joinRoom = (room: string, userId: string) =>
    startCli(users.target, ["chat", "join", room, "--user", userId], withChat());

  async function createUser(username: string): Promise<string> {
    const run = await runCli(users.target, [
      "create",
      "--json",
      "--username",
      username,
      "--email",
      `${username}@e2e.example.com`,
      "--password",
      "correct-horse",
    ]);
    expect(run.code, run.stderr).toBe(0);
    return String(run.json()[0]!.id);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-e2e-chat-"));
    users = await startUserService({ DATABASE_PATH: join(dir, "users.db") });
    chat = await startChatApp({ DATABASE_PATH: join(dir, "chat.db"), USER_SERVICE_ADDRESS: users.target });
    [ann, bob] = await Promise.all([createUser("chat_ann"), createUser("chat_bob")]);
  });

  afterAll(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lets two members talk in a room from two terminals, with presence, and chat send reaches both", async () => {
    const a = joinRoom("lobby", ann);
    await a.waitFor(`joined lobby as ${ann} (no messages yet)`);
    const b = joinRoom("lobby", bob);
    await b.waitFor(`joined lobby as ${bob}`);
    await a.waitFor(`* ${bob} joined`);

    a.write("hello from ann\n");
    await b.waitFor(new RegExp(`#1 \\d\\d:\\d\\d:\\d\\d ${ann}: hello from ann\\n`));
    b.write("hi ann\n");
    await a.waitFor(new RegExp(`#2 \\d\\d:\\d\\d:\\d\\d ${bob}: hi ann\\n`));

    const sent = await cli(["chat", "send", "lobby", "--user", ann, "sent", "with", "send"]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(transcript(sent.stdout)).toEqual([`#3 HH:MM:SS ${ann}: sent with send`]);
    await Promise.all([a.waitFor("sent with send\n"), b.waitFor("sent with send\n")]);

    // Ending stdin leaves the room: the stream half-closes, the service ends it, exit 0.
    b.end();
    const bRun = await b.finished;
    expect(bRun.code, bRun.stderr).toBe(0);
    await a.waitFor(`* ${bob} left`);
    a.end();
    const aRun = await a.finished;
    expect(aRun.code, aRun.stderr).toBe(0);

    expect(transcript(aRun.stdout)).toEqual([
      `joined lobby as ${ann} (no messages yet)`,
      `* ${ann} joined`,
      `* ${bob} joined`,
      `#1 HH:MM:SS ${ann}: hello from ann`,
      `#2 HH:MM:SS ${bob}: hi ann`,
      `#3 HH:MM:SS ${ann}: sent with send`,
      `* ${bob} left`,
    ]);
    expect(transcript(bRun.stdout)).toEqual([
      `joined lobby as ${bob} (no messages yet)`,
      `* ${bob} joined`,
      `#1 HH:MM:SS ${ann}: hello from ann`,
      `#2 HH:MM:SS ${bob}: hi ann`,
      `#3 HH:MM:SS ${ann}: sent with send`,
    ]);
  });

  it("replays the room with subscribe --after 0 --count N --json: exactly N messages, in order", async () => {
    const run = await cli(["chat", "subscribe", "lobby", "--after", "0", "--count", "3", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const messages = run.json().map((line) => line.message as Record<string, unknown>);
    expect(messages.map((m) => [m.sequence, m.sender, m.text])).toEqual([
      ["1", ann, "hello from ann"],
      ["2", bob, "hi ann"],
      ["3", ann, "sent with send"],
    ]);
    expect(messages.every((m) => m.room === "lobby" && typeof m.sentAt === "string")).toBe(true);
  });

  it("prints the last messages with history --limit", async () => {
    const run = await cli(["chat", "history", "lobby", "--limit", "2"]);
    expect(run.code, run.stderr).toBe(0);
    expect(transcript(run.stdout)).toEqual([`#2 HH:MM:SS ${bob}: hi ann`, `#3 HH:MM:SS ${ann}: sent with send`]);
  });

  it("exits 1 with INVALID_ARGUMENT for an empty message", async () => {
    const run = await cli(["chat", "send", "lobby", "--user", ann, ""]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe("error: INVALID_ARGUMENT: text: value is required\n");
  });

  it("exits 1 with NOT_FOUND when an unknown user joins, although its stdin stays open", async () => {
    const session = joinRoom("lobby", "no-such-user");
    const run = await session.finished;
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe('error: NOT_FOUND: user "no-such-user" not found\n');
  });
});
