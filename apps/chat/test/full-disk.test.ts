import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { STORAGE_FULL_MESSAGE } from "@polyrpc/server-kit";
import { mountTestTmpfs, startLocalPostgres } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatLog } from "../src/chat-log.js";
import { SqliteChatLog } from "../src/sqlite-chat-log.js";
import { openPostgresLog, startChatServer, type TestChatServer, type TestChatServerOptions } from "./harness.js";

/** The most messages the test sends before it gives up on filling the disk. */
const MAX_MESSAGES = 5000;

/** A chat log on a small file system of its own, which the test fills. */
interface SmallDisk {
  /** How the chat server opens its log there. */
  server: Partial<TestChatServerOptions>;
  /** Fills the disk to a little free space. */
  fill(): void;
  /** Empties the filler, restarts what needs restarting and opens the log again to read it. */
  reopen(): Promise<ChatLog>;
  destroy(): Promise<void>;
}

const smallDisks: Record<string, () => Promise<SmallDisk>> = {
  /** SQLite on a 2 MiB tmpfs. */
  async sqlite() {
    const disk = mountTestTmpfs(2 * 1024 * 1024);
    const path = join(disk.path, "chat.db");
    return {
      server: { log: new SqliteChatLog(path) },
      fill: () => disk.leaveFree(64 * 1024),
      async reopen() {
        disk.removeFiller();
        return new SqliteChatLog(path);
      },
      async destroy() {
        disk.destroy();
      },
    };
  },
  /** A durable PostgreSQL (fsync and synchronous commit on) with its data on a 64 MiB tmpfs. */
  async postgres() {
    const disk = mountTestTmpfs(64 * 1024 * 1024);
    const server = await startLocalPostgres({ dir: join(disk.path, "pg"), durable: true });
    const url = await server.createDatabase("chat");
    return {
      server: { storage: "postgres", databaseUrl: url },
      fill: () => disk.leaveFree(256 * 1024),
      async reopen() {
        disk.removeFiller();
        // A restart: what it acknowledged must be in the data files or the WAL it replays.
        await server.stop();
        await server.start();
        return openPostgresLog(url);
      },
      async destroy() {
        await server.destroy();
        disk.destroy();
      },
    };
  },
};

describe.each(Object.keys(smallDisks))("the chat on a full disk (%s)", (backend) => {
  let disk: SmallDisk;
  let t: TestChatServer | undefined;
  /** Every message the chat acknowledged, by room and sequence. */
  const acknowledged: Array<{ room: string; sequence: bigint; text: string }> = [];
  const failures: ConnectError[] = [];

  beforeAll(async () => {
    disk = await smallDisks[backend]!();
    t = await startChatServer(disk.server);
    disk.fill();
  });
  afterAll(async () => {
    await t?.stop();
    await disk?.destroy();
  });

  it("answers SendMessage with RESOURCE_EXHAUSTED once the disk is full, never an acknowledgement for a lost message", async () => {
    for (let i = 0; i < MAX_MESSAGES && failures.length < 20; i++) {
      const room = `room-${i % 3}`;
      const text = `message ${i} `.padEnd(200, "x");
      try {
        const { message } = await t!.client.sendMessage({ room, userId: "alice", text });
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
    await t!.stop();
    t = undefined;
    const log = await disk.reopen();
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
          ["--conditions=polyrpc-source", "--import", "tsx", "src/main.ts"],
          {
            cwd: join(import.meta.dirname, ".."),
            env: {
              ...process.env,
              POLYRPC_ENV: "development",
              PORT: "0",
              METRICS_ENABLED: "false",
              DATABASE_PATH: path,
            },
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
