import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserService } from "@polyrpc/proto";
import { createGrpcClient } from "@polyrpc/grpc-client";
import type { ServiceProcess } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCommand, startChatReplica, startUserServiceReplica } from "./processes.js";

/** GetUser calls a user-service replica logged (one log line per call). */
function getUserCalls(replica: ServiceProcess): number {
  return replica
    .output()
    .split("\n")
    .filter((line) => /"method":"[^"]*GetUser"/.test(line)).length;
}

/**
 * loadBalancing.mode headless: no sidecar balances the chat's lookups, so the chat's own grpc-js
 * channel must (USER_SERVICE_LB_POLICY=round_robin over every address of the headless Service).
 * Two addresses in an `ipv4:` target stand in for the two A records DNS would return.
 */
describe("the chat's user lookups without a sidecar (loadBalancing.mode headless)", () => {
  let dir: string;
  let users: ServiceProcess[];
  let userId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-headless-"));
    const db = join(dir, "users.db");
    users = [await startUserServiceReplica(db)];
    users.push(await startUserServiceReplica(db));
    const client = createGrpcClient(UserService, users[0]!.target);
    userId = (
      await client.methods.createUser({ username: "rr_ann", email: "rr_ann@example.com", password: "pw-pw-pw" })
    ).id;
    client.close();
  }, 60_000);

  afterAll(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * GetUser calls per replica once their log lines are all out: the services write log lines in
   * chunks, flushed every 100 ms, so the counts are read when they stop changing.
   */
  async function settledCalls(): Promise<number[]> {
    let counts = users.map(getUserCalls);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const next = users.map(getUserCalls);
      if (next.every((count, i) => count === counts[i])) return next;
      counts = next;
    }
  }

  /** Sends 6 messages through a chat that checks the sender every time; returns GetUser calls per replica. */
  async function lookups(policy: "round_robin" | "pick_first"): Promise<number[]> {
    const before = await settledCalls();
    const chat = await startChatReplica(
      join(dir, `chat-${policy}.db`),
      `ipv4:${users.map((u) => u.target).join(",")}`,
      {
        USER_SERVICE_LB_POLICY: policy,
        USER_CACHE_TTL_MS: "0",
      },
    );
    try {
      const url = `http://${chat.target}/chat.v1.ChatService/SendMessage`;
      const body = JSON.stringify({ room: "rr", userId, text: "hello" });
      // One curl per message (a new connection each; the chat keeps one channel to the user service).
      for (let i = 0; i < 6; i++) {
        const curl = await runCommand("curl", [
          ...["-sS", "--fail", "--http2-prior-knowledge", "-H", "Content-Type: application/json", "-d", body, url],
        ]);
        expect(curl.code, curl.stderr + curl.stdout).toBe(0);
      }
    } finally {
      await chat.stop();
    }
    const after = await settledCalls();
    return after.map((count, i) => count - before[i]!);
  }

  it("spreads the lookups over every user-service replica with round_robin", async () => {
    const calls = await lookups("round_robin");
    console.log("GetUser lookups per replica with round_robin:", calls);
    for (const count of calls) expect(count).toBeGreaterThan(0);
    expect(calls.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6);
  });

  it("sends them all to one replica with pick_first (the sidecar mode, where Envoy balances)", async () => {
    const calls = await lookups("pick_first");
    console.log("GetUser lookups per replica with pick_first:", calls);
    expect(calls.filter((count) => count > 0)).toHaveLength(1);
  });
});
