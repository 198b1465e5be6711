import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "./harness.js";

const grpcurlPath = join(import.meta.dirname, "../../../.tools/bin/grpcurl");
const run = promisify(execFile);

/** Runs grpcurl as the README shows it; resolves with its exit code and output. */
async function grpcurl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(grpcurlPath, args, { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("the README's grpcurl commands, through server reflection", () => {
  let t: TestService;
  let target: string;
  beforeAll(async () => {
    expect(existsSync(grpcurlPath), "grpcurl is missing: run `bash scripts/setup.sh`").toBe(true);
    t = await startTestService();
    target = t.service.server.address;
  });
  afterAll(() => t.stop());

  it("lists the services", async () => {
    const res = await grpcurl("-plaintext", target, "list");
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim().split("\n")).toEqual(["grpc.health.v1.Health", "user.UserService"]);
  });

  it("describes UserService with its seven methods", async () => {
    const res = await grpcurl("-plaintext", target, "describe", "user.UserService");
    expect(res.code, res.stderr).toBe(0);
    for (const method of ["GetUser", "CreateUser", "UpdateUser", "DeleteUser", "ListUsers", "CreateUsers", "Chat"]) {
      expect(res.stdout).toContain(`rpc ${method} (`);
    }
    expect(res.stdout).toContain("rpc ListUsers ( .user.ListUsersRequest ) returns ( stream .user.User );");
  });

  it("creates, reads and pages users from JSON, and shows the next-page-token trailer", async () => {
    const created = await grpcurl(
      "-plaintext",
      "-d",
      '{"username":"ada","email":"ada@example.com","password":"correct horse"}',
      target,
      "user.UserService/CreateUser",
    );
    expect(created.code, created.stderr).toBe(0);
    const user = JSON.parse(created.stdout) as { id: string; created_at: string; roles: string[] };
    expect(user.roles).toEqual(["user"]);
    expect(user).not.toHaveProperty("password");

    const got = await grpcurl("-plaintext", "-d", JSON.stringify({ id: user.id }), target, "user.UserService/GetUser");
    expect(JSON.parse(got.stdout)).toEqual(user);

    await t.client.createUser({ username: "grace", email: "grace@example.com", password: "password" });
    await t.client.createUser({ username: "linus", email: "linus@example.com", password: "password" });
    const paged = await grpcurl("-plaintext", "-d", '{"page_size":2}', "-v", target, "user.UserService/ListUsers");
    expect(paged.code, paged.stderr).toBe(0);
    expect(paged.stdout).toMatch(/Response trailers received:\nnext-page-token: \S+/);
    expect(paged.stdout).toContain("Sent 1 request and received 2 responses");
  });

  it("checks health and reports errors with their gRPC code", async () => {
    const health = await grpcurl(
      "-plaintext",
      "-d",
      '{"service":"user.UserService"}',
      target,
      "grpc.health.v1.Health/Check",
    );
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
    const missing = await grpcurl("-plaintext", "-d", '{"id":"nope"}', target, "user.UserService/GetUser");
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("Code: NotFound");
    expect(missing.stderr).toContain('Message: user "nope" not found');
  });
});
