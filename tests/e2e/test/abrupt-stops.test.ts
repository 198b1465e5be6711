import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectUserService, type UserServiceClient } from "@polyrpc/client";
import { HealthClient } from "@polyrpc/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { killAll, startChatApp, startUserService, type ServiceProcess } from "./processes.js";

/**
 * The user service and the chat app stopped the ways operators and kernels stop processes: kill -9
 * in the middle of a write, SIGTERM under load, SIGTERM with hundreds of idle connections open.
 */

/** The pinned ghz that scripts/setup.d/30-bench.sh builds. */
const ghzPath = join(import.meta.dirname, "../../../.tools/bin/ghz");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SHUTDOWN_ENV = { SHUTDOWN_DRAIN_MS: "1500", SHUTDOWN_TIMEOUT_MS: "5000", RATE_LIMIT_UNARY_PER_S: "0" };

let dir: string;
const started: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((service) => service.stop("SIGKILL")));
});
afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function userService(env: Record<string, string>): Promise<ServiceProcess> {
  const service = await startUserService({ ...SHUTDOWN_ENV, ...env });
  started.push(service);
  return service;
}

async function allUsernames(client: UserServiceClient): Promise<string[]> {
  const names: string[] = [];
  for await (const user of client.methods.listUsers({ pageSize: 0 })) names.push(user.username);
  return names;
}

const newUser = (prefix: string, i: number) => ({
  username: `${prefix}${i}`,
  email: `${prefix}${i}@example.com`,
  password: "password",
});

describe("kill -9 during CreateUsers", () => {
  it("stores all or nothing of a batch killed as it commits", async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-kill9-commit-"));
    const env = { DATABASE_PATH: join(dir, "users.db") };
    const first = await userService(env);
    const client = connectUserService(first.target);
    let acknowledged = false;
    try {
      async function* wholeBatchThenKill() {
        for (let i = 0; i < 1000; i++) yield newUser("commit", i);
        // The client half-closes after this; the server validates and commits the 1,000 meanwhile.
        setTimeout(() => first.child.kill("SIGKILL"), 5);
      }
      acknowledged = await client.methods.createUsers(wholeBatchThenKill()).then(
        () => true,
        () => false,
      );
      await first.exited;
    } finally {
      client.close();
    }
    const second = await userService(env);
    const after = connectUserService(second.target);
    try {
      const stored = (await allUsernames(after)).filter((name) => name.startsWith("commit")).length;
      expect(acknowledged ? [1000] : [0, 1000]).toContain(stored);
    } finally {
      after.close();
    }
  });

  it("keeps an acknowledged batch whole and leaves no trace of the batch in flight, on a file that still opens", async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-kill9-"));
    const env = { DATABASE_PATH: join(dir, "users.db") };
    const first = await userService(env);
    const client = connectUserService(first.target);
    try {
      const acknowledged = await client.methods.createUsers(Array.from({ length: 300 }, (_, i) => newUser("kept", i)));
      expect(acknowledged.count).toBe(300);

      // A second batch of 1,000, streamed slowly; the server is killed after 500 were sent.
      let sent = 0;
      async function* slowBatch() {
        for (let i = 0; i < 1000; i++) {
          yield newUser("lost", i);
          sent++;
          if (i % 50 === 49) await sleep(20);
          if (sent === 500) first.child.kill("SIGKILL");
        }
      }
      const inFlight = client.methods.createUsers(slowBatch()).then(
        () => "acknowledged",
        (error: { code?: number }) => `failed with ${error.code}`,
      );
      const exit = await first.exited;
      expect(exit.signal).toBe("SIGKILL");
      expect(await inFlight).toBe("failed with 14");
    } finally {
      client.close();
    }

    const second = await userService(env);
    const after = connectUserService(second.target);
    try {
      const names = await allUsernames(after);
      expect(names.filter((name) => name.startsWith("kept"))).toHaveLength(300);
      expect(names.filter((name) => name.startsWith("lost"))).toEqual([]);
      // The file takes writes again.
      expect((await after.methods.createUser(newUser("again", 0))).username).toBe("again0");
    } finally {
      after.close();
    }
  });
});

/** What ghz reports for the calls it was starting when its own --duration ran out. */
const GHZ_STOPPING = "rpc error: code = Canceled desc = grpc: the client connection is closing";

describe("SIGTERM under ghz load", () => {
  it("answers every call OK or UNAVAILABLE, exits 0, and stored exactly the writes it acknowledged", async () => {
    dir = mkdtempSync(join(tmpdir(), "polyrpc-sigterm-"));
    const env = { DATABASE_PATH: join(dir, "users.db") };
    const service = await userService(env);
    const ghz = spawn(
      ghzPath,
      [
        "--insecure",
        "--call", "user.UserService.CreateUser",
        "--data", JSON.stringify({ username: "load{{.RequestNumber}}", email: "load{{.RequestNumber}}@example.com", password: "password" }),
        "--concurrency", "20",
        "--connections", "2",
        "--duration", "5s",
        "--total", "0",
        "--timeout", "10s",
        "--format", "json",
        service.target,
      ], // prettier-ignore
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    ghz.stdout.on("data", (chunk) => (stdout += chunk));
    ghz.stderr.on("data", (chunk) => (stderr += chunk));
    const ghzExit = new Promise<number | null>((resolve) => ghz.on("close", resolve));
    await sleep(2500);
    service.child.kill("SIGTERM");
    const exit = await service.exited;
    await ghzExit;
    const report = JSON.parse(stdout) as {
      statusCodeDistribution: Record<string, number>;
      errorDistribution: Record<string, number> | null;
    };
    console.log(
      "ghz under SIGTERM:",
      JSON.stringify(report.statusCodeDistribution),
      JSON.stringify(report.errorDistribution),
      stderr,
    );
    expect(exit, service.output().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(report.statusCodeDistribution.OK).toBeGreaterThan(0);
    // Every call that did not succeed was refused as UNAVAILABLE (draining, or the port closed),
    // but for the calls ghz itself cancels when its --duration ends.
    for (const message of Object.keys(report.errorDistribution ?? {})) {
      if (message === GHZ_STOPPING) continue;
      expect(message).toMatch(/^rpc error: code = Unavailable desc = /);
    }

    const restarted = await userService(env);
    const client = connectUserService(restarted.target);
    try {
      const stored = (await allUsernames(client)).filter((name) => name.startsWith("load"));
      expect(stored.length).toBe(report.statusCodeDistribution.OK);
    } finally {
      client.close();
    }
  });
});

/** Resident memory of a process, in MiB. */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** Opens an HTTP/2 connection that completes its handshake and then sends nothing. */
function idleConnection(
  target: string,
): Promise<{ session: ClientHttp2Session; closed: Promise<void>; goaway: () => boolean }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${target}`);
    const closed = new Promise<void>((done) => session.once("close", () => done()));
    let goaway = false;
    session.once("goaway", () => (goaway = true));
    session.once("error", reject);
    session.once("remoteSettings", () => {
      session.removeListener("error", reject);
      session.on("error", () => {});
      resolve({ session, closed, goaway: () => goaway });
    });
  });
}

const IDLE_CONNECTIONS = 400;

describe.each([
  { runtime: "grpc-js (user service)", start: () => userService({ DATABASE_PATH: ":memory:" }) },
  {
    runtime: "connect-node (chat)",
    start: async () => {
      const chat = await startChatApp({
        ...SHUTDOWN_ENV,
        DATABASE_PATH: ":memory:",
        USER_SERVICE_ADDRESS: "127.0.0.1:1",
      });
      started.push(chat);
      return chat;
    },
  },
])(`${IDLE_CONNECTIONS} idle connections to $runtime`, ({ start }) => {
  it("cost bounded memory, leave it answering, and do not hold up SIGTERM: each is closed and the process exits 0", async () => {
    const service = await start();
    const before = rssOf(service.child.pid!);
    const idle = await Promise.all(Array.from({ length: IDLE_CONNECTIONS }, () => idleConnection(service.target)));
    const withIdle = rssOf(service.child.pid!);
    console.log(`${IDLE_CONNECTIONS} idle connections: RSS ${before.toFixed(0)} -> ${withIdle.toFixed(0)} MiB`);
    expect(withIdle - before, "memory growth in MiB").toBeLessThan(100);
    const health = new HealthClient(service.target);
    try {
      expect(await health.check("")).toBe("SERVING");
    } finally {
      health.close();
    }
    service.child.kill("SIGTERM");
    expect(await service.exited, service.output().slice(-2000)).toEqual({ code: 0, signal: null });
    // The server told every one of them to go (GOAWAY) on its way out, rather than dropping them.
    await Promise.all(idle.map(({ closed }) => closed));
    expect(idle.filter(({ goaway }) => goaway()).length).toBe(IDLE_CONNECTIONS);
  });
});
