import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { SHUTDOWN_MESSAGE } from "@polyrpc/server-kit";
import { HealthClient, ReflectionClient } from "@polyrpc/testing";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteChatLog } from "../src/sqlite-chat-log.js";
import { FakeUserDirectory, startChatServer, StreamReader, type TestChatServer } from "./harness.js";

const grpcurl = join(import.meta.dirname, "../../../.tools/bin/grpcurl");
const run = promisify(execFile);

describe("the chat server", () => {
  let t: TestChatServer | undefined;
  const closers: Array<{ close(): void }> = [];
  afterEach(async () => {
    closers.splice(0).forEach((c) => c.close());
    await t?.stop();
    t = undefined;
  });

  it("reports SERVING for chat.v1.ChatService over grpc.health.v1, and NOT_SERVING once stopping", async () => {
    t = await startChatServer({ env: { SHUTDOWN_DELAY_MS: "300" } });
    const health = new HealthClient(t.chat.server.address);
    closers.push(health);
    expect(await health.check("chat.v1.ChatService")).toBe("SERVING");
    const watch = health.watch("");
    expect(await watch.next()).toBe("SERVING");
    const stopping = t.chat.server.shutdown();
    expect(await watch.next()).toBe("NOT_SERVING");
    expect(await health.check("chat.v1.ChatService")).toBe("NOT_SERVING");
    watch.stop();
    await stopping;
  });

  it.each(["v1", "v1alpha"] as const)("describes ChatService over reflection %s", async (version) => {
    t = await startChatServer();
    const reflection = new ReflectionClient(t.chat.server.address, version);
    closers.push(reflection);
    expect(await reflection.listServices()).toEqual(["chat.v1.ChatService", "grpc.health.v1.Health"]);
    const files = await reflection.fileContainingSymbol("chat.v1.ChatMessage");
    const names = files.map((f) => f.name);
    expect(names[0]).toBe("chat/v1/chat.proto");
    expect(names).toContain("google/protobuf/timestamp.proto");
    expect(names).toContain("buf/validate/validate.proto");
  });

  it("answers grpcurl, through reflection, with JSON in and out", async () => {
    t = await startChatServer();
    const target = t.chat.server.address;
    const { stdout: described } = await run(grpcurl, ["-plaintext", target, "describe", "chat.v1.ChatService"]);
    expect(described).toContain(
      "rpc Subscribe ( .chat.v1.SubscribeRequest ) returns ( stream .chat.v1.SubscribeResponse );",
    );
    const send = { room: "lobby", user_id: "alice", text: "hello over grpcurl" };
    const { stdout } = await run(grpcurl, [
      "-plaintext",
      "-d",
      JSON.stringify(send),
      target,
      "chat.v1.ChatService/SendMessage",
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      message: { room: "lobby", sender: "alice", text: "hello over grpcurl", sequence: "1" },
    });
  });

  it("answers curl over the Connect protocol's JSON, as the README shows", async () => {
    t = await startChatServer();
    const post = (method: string, body: object) =>
      fetch(`${t!.baseUrl}/chat.v1.ChatService/${method}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const sent = await post("SendMessage", { room: "lobby", userId: "alice", text: "hi from curl" });
    expect(sent.status).toBe(200);
    expect(await sent.json()).toMatchObject({ message: { sender: "alice", text: "hi from curl", sequence: "1" } });
    const history = await post("GetHistory", { room: "lobby" });
    expect(await history.json()).toMatchObject({ messages: [{ text: "hi from curl" }], lastSequence: "1" });
    const bad = await post("SendMessage", { room: "lobby", userId: "alice", text: "" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "invalid_argument" });
  });

  it("ends open streams with UNAVAILABLE at the drain deadline, and they resume after a restart with nothing lost (F2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyrpc-chat-f2-"));
    const path = join(dir, "chat.db");
    const users = new FakeUserDirectory(["alice", "bob"]);
    try {
      t = await startChatServer({ log: new SqliteChatLog(path), users, env: { SHUTDOWN_DRAIN_MS: "300" } });
      for (const text of ["one", "two"]) await t.client.sendMessage({ room: "ops", userId: "alice", text });
      const watcher = new StreamReader(t.client.subscribe({ room: "ops", afterSequence: 0n }));
      const seen = (await watcher.take(2)).map((r) => (r.event.case === "message" ? r.event.value.sequence : -1n));
      expect(seen).toEqual([1n, 2n]);

      const started = Date.now();
      await t.chat.stop();
      const { error, rest } = await watcher.end();
      expect(rest).toEqual([]);
      expect(error?.code).toBe(Code.Unavailable);
      expect(error?.rawMessage).toBe(SHUTDOWN_MESSAGE);
      expect(Date.now() - started).toBeLessThan(2000);

      // Another replica (here: a restart on the same database) takes over; the client resumes.
      t = await startChatServer({ log: new SqliteChatLog(path), users });
      await t.client.sendMessage({ room: "ops", userId: "bob", text: "three" });
      const resumed = new StreamReader(t.client.subscribe({ room: "ops", afterSequence: seen.at(-1)! }));
      const next = await resumed.next();
      expect(next.event.case === "message" && [next.event.value.sequence, next.event.value.text]).toEqual([
        3n,
        "three",
      ]);
      await resumed.cancel();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
