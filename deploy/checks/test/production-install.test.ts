import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDockerfileStages, type StagesRun } from "../src/dockerfile-stages.js";
import { repoRoot } from "../src/tools.js";

/** The steps of each Dockerfile, run on this machine (D7): what each image installs, builds and starts. */
const work = mkdtempSync(join(tmpdir(), "polyrpc-production-"));
const built = new Map<string, StagesRun>();
const children: ChildProcess[] = [];

function stages(app: string): StagesRun {
  let run = built.get(app);
  if (!run) {
    run = runDockerfileStages(join(repoRoot, "infra/docker", `${app}.Dockerfile`), join(work, app), () => {});
    built.set(app, run);
  }
  return run;
}

/** Starts an app's ENTRYPOINT and resolves with its port once it logs `listening`. */
function startEntrypoint(run: StagesRun, env: Record<string, string>, listening: string) {
  const child = run.start([], { HOST: "127.0.0.1", PORT: "0", METRICS_ENABLED: "false", ...env });
  children.push(child);
  let output = "";
  const port = new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split("\n")) {
        if (!line.includes(listening)) continue;
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`exited with ${code} before listening:\n${output}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, port, exited, output: () => output };
}

/** Runs the client image's ENTRYPOINT (the CLI) to completion. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = stages("client").start(args, {});
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

describe("each app from its Dockerfile's production-only install (D7)", () => {
  beforeAll(() => {
    for (const app of ["user-service", "chat", "client"]) stages(app);
  }, 900_000);

  it.each(["user-service", "chat", "client"])(
    "%s: runs compiled JavaScript with production dependencies only",
    (app) => {
      const run = stages(app);
      expect(run.entrypoint[0]).toBe("node");
      expect(run.entrypoint[1]).toMatch(/^dist\/[a-z]+\.js$/);
      expect(existsSync(join(run.workdir, run.entrypoint[1]!))).toBe(true);
      expect(run.env.NODE_ENV).toBe("production");
      // No compiler, bundler or test tool is installed for it, linked or left in the store.
      const store = readdirSync(join(run.root, "app/node_modules/.pnpm"));
      for (const dev of ["tsx", "typescript", "esbuild", "vitest", "turbo", "@bufbuild+buf", "prettier"]) {
        expect(existsSync(join(run.workdir, "node_modules", dev)), dev).toBe(false);
        expect(existsSync(join(run.root, "app/node_modules", dev)), dev).toBe(false);
        expect(
          store.filter((entry) => entry.startsWith(`${dev}@`)),
          dev,
        ).toEqual([]);
      }
    },
  );

  it("starts the user service and the chat, which the CLI then calls", async () => {
    const users = startEntrypoint(
      stages("user-service"),
      { POLYRPC_ENV: "development", DATABASE_PATH: ":memory:" },
      "gRPC server listening",
    );
    const usersPort = await users.port;
    const chat = startEntrypoint(
      stages("chat"),
      { POLYRPC_ENV: "development", DATABASE_PATH: ":memory:", USER_SERVICE_ADDRESS: `127.0.0.1:${usersPort}` },
      "Connect server listening",
    );
    const chatPort = await chat.port;
    const target = ["--target", `127.0.0.1:${usersPort}`, "--chat-target", `127.0.0.1:${chatPort}`, "--json"];
    const created = await runCli([
      ...target,
      "create",
      "--username",
      "prod",
      "--email",
      "prod@example.com",
      "--password",
      "password1",
    ]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;
    const sent = await runCli([...target, "chat", "send", "lobby", "--user", id, "hello", "from", "dist"]);
    expect(sent.stderr).toBe("");
    expect(sent.code).toBe(0);
    expect(sent.stdout).toContain("hello from dist");
    // The browser page was bundled by the build, not at start.
    const page = await fetch(`http://127.0.0.1:${chatPort}/chat.js`);
    expect(page.status).toBe(200);
    expect((await page.text()).length).toBeGreaterThan(1000);
    for (const service of [chat, users]) {
      service.child.kill("SIGTERM");
      expect(await service.exited, service.output()).toBe(0);
    }
  });
});
