import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { STORAGE_FULL_MESSAGE } from "@polyrpc/server-kit";
import { mountTestTmpfs, type TestTmpfs } from "@polyrpc/server-kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteChatLog } from "../src/sqlite-chat-log.js";
import { startChatServer, type TestChatServer } from "./harness.js";

/** The most messages the test sends before it gives up on filling the disk. */
const MAX_MESSAGES = 5000;

describe("the chat on a full disk (SQLite on a 2 MiB tmpfs)", () => {
  let disk: TestTmpfs;
  let t: TestChatServer;
  let path: string;
  /** Every message the chat acknowledged, by room and sequence. */
  const acknowledged: Array<{ room: string; sequence: bigint; text: string }> = [];
  const failures: ConnectError[] = [];

  beforeAll(async () => {
    disk = mountTestTmpfs(2 * 1024 * 1024);
    path = join(disk.path, "chat.db");
    t = await startChatServer({ log: new SqliteChatLog(path) });
    disk.leaveFree(64 * 1024);
  });
  afterAll(async () => {
    await t?.stop();
    disk?.destroy();
  });

  it("answers SendMessage with RESOURCE_EXHAUSTED once the disk is full, never an acknowledgement for a lost message", async () => {
    for (let i = 0; i < MAX_MESSAGES && failures.length < 20; i++) {
      const room = `room-${i % 3}`;
      const text = `message ${i} `.padEnd(200, "x");
      try {
        const { message } = await t.client.sendMessage({ room, userId: "alice", text });
        acknowledged.push({ room, sequence: message!.sequence, text });
      } catch (err) {
        failures.push(ConnectError.from(err));
      }
    }
    expect(failures.length, "the disk never filled").toBe(20);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(failure.code).toBe(Code.ResourceExhausted);
      expect(failure.rawMessage).toBe(STORAGE_FULL_MESSAGE);
    }
  });

  it("keeps every acknowledged message, gap-free and in order, across a restart", async () => {
    await t.stop();
    disk.removeFiller();
    const log = new SqliteChatLog(path);
    try {
      for (const room of ["room-0", "room-1", "room-2"]) {
        const sent = acknowledged.filter((m) => m.room === room);
        const stored = await log.read(room, { afterSequence: 0n, limit: MAX_MESSAGES });
        expect(stored.map((m) => ({ room: m.room, sequence: m.sequence, text: m.text }))).toEqual(sent);
        expect(stored.map((m) => m.sequence)).toEqual(sent.map((_, i) => BigInt(i + 1)));
      }
    } finally {
      await log.close();
    }
  });
});

describe("the chat started on a damaged SQLite file", () => {
  it("exits with a message that names the file, not a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyrpc-damaged-"));
    try {
      const path = join(dir, "chat.db");
      writeFileSync(path, Buffer.alloc(8192, "this is not a database "));
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ["--import", "tsx", "src/main.ts"],
          {
            cwd: join(import.meta.dirname, ".."),
            env: { ...process.env, POLYRPC_ENV: "development", PORT: "0", METRICS_ENABLED: "false", DATABASE_PATH: path },
          },
          (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
        );
      });
      expect(code).toBe(74);
      expect(stderr.trim()).toBe(`chat: cannot open the SQLite database ${path}: file is not a database`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
