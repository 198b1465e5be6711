import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repoRoot = join(import.meta.dirname, "../../..");

/** Runs the README's command A (`pnpm start`, i.e. scripts/start.mjs) in its stop-after-demo mode. */
function runStart(
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, "scripts/start.mjs"), "--exit-after-demo", ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
  });
}

/** Every port free: Envoy's TLS listeners, its admin pages, the chat's outbound listener, metrics. */
const FREE_PORTS = {
  USER_SERVICE_PORT: "0",
  CHAT_PORT: "0",
  USER_SERVICE_ENVOY_ADMIN_PORT: "0",
  CHAT_ENVOY_ADMIN_PORT: "0",
  USER_SERVICE_OUTBOUND_PORT: "0",
  PASSWORD_HASH_COST: "1024",
  USER_SERVICE_METRICS_PORT: "0",
  CHAT_METRICS_PORT: "0",
};

describe("the start command (README command A)", () => {
  const dir = mkdtempSync(join(tmpdir(), "polyrpc-start-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("starts the user service and the chat on SQLite behind Envoy, runs the demo and a chat message over TLS, and stops cleanly", async () => {
    const { code, output } = await runStart({ ...FREE_PORTS, POLYRPC_DATA_DIR: dir });
    expect(output).toContain("[user-service-1] info gRPC server listening");
    expect(output).toContain("[user-service-2] info gRPC server listening");
    expect(output).toContain("[chat] info Connect server listening (gRPC, gRPC-Web, Connect)");
    expect(output).toMatch(/Envoy \(from the Helm chart's config\) listening with TLS: UserService at localhost:\d+/);
    expect(output).toMatch(/Running the client demo against UserService at localhost:\d+ through Envoy over TLS/);
    expect(output).toContain("demo passed: all 8 steps behaved as expected");
    // Envoy counted the demo's calls at the replicas (health checks are not requests).
    expect(output).toMatch(/Envoy balanced the demo's calls over the user-service replicas: 127\.0\.0\.1:\d+: [1-9]/);
    expect(output).toMatch(/#1 \d\d:\d\d:\d\d [0-9a-f-]{36}: hello from make start/);
    expect(output).toContain("start passed: the user service and the chat answered through Envoy over TLS");
    expect(output).toContain("[user-service-1] info server stopped");
    expect(output).toContain("[user-service-2] info server stopped");
    expect(output).toContain("[chat] info server stopped");
    expect(code, output).toBe(0);
    expect(existsSync(join(dir, "user-service.db"))).toBe(true);
    expect(existsSync(join(dir, "chat.db"))).toBe(true);
    // The development CA and certificate were made at start, into the data directory.
    expect(existsSync(join(dir, "envoy/pki/ca.crt"))).toBe(true);
    expect(existsSync(join(dir, "envoy/user-service/envoy.yaml"))).toBe(true);
  });

  it("with --postgres runs two replicas of each service on a local PostgreSQL kept in the data directory", async () => {
    const pgDir = mkdtempSync(join(tmpdir(), "polyrpc-start-pg-"));
    // As root, PostgreSQL runs as the postgres user, which must reach the data directory.
    chmodSync(pgDir, 0o755);
    try {
      const { code, output } = await runStart({ ...FREE_PORTS, POLYRPC_DATA_DIR: pgDir }, ["--postgres"]);
      for (const name of ["user-service-1", "user-service-2"]) {
        expect(output).toContain(`[${name}] info user store open (postgres)`);
        expect(output).toContain(`[${name}] info gRPC server listening`);
      }
      for (const name of ["chat-1", "chat-2"]) {
        expect(output).toContain(`[${name}] info chat storage (postgres)`);
        expect(output).toContain(`[${name}] info Connect server listening (gRPC, gRPC-Web, Connect)`);
      }
      expect(output).toContain("demo passed: all 8 steps behaved as expected");
      expect(output).toContain("start passed: the user service and the chat answered through Envoy over TLS");
      expect(code, output).toBe(0);
      // The cluster is kept for the next start; no SQLite file was made.
      expect(existsSync(join(pgDir, "postgres/data/PG_VERSION"))).toBe(true);
      expect(existsSync(join(pgDir, "user-service.db"))).toBe(false);
      expect(existsSync(join(pgDir, "chat.db"))).toBe(false);
    } finally {
      rmSync(pgDir, { recursive: true, force: true });
    }
  });
});
