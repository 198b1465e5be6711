import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { startTestPostgres, type TestPostgres } from "@polyrpc/server-kit/testing";
import { userClient } from "./clients.js";
import { benchDir, repoRoot } from "./paths.js";
import { loggedPort } from "@polyrpc/server-kit/testing";
import { pinned, startServer, type ServerProcess } from "./processes.js";
import type { Profile } from "./profiles.js";
import { loadgenCpus, type Case, type Mode } from "./runner.js";
import { polyrpcEnv } from "./targets.js";

const run = promisify(execFile);

/** One or more chat replicas sharing a room, with the user service that vouches for the sender. */
export interface ChatSetup {
  name: string;
  pids: number[];
  targets: string[];
  userId: string;
  stop(): Promise<void>;
}

/**
 * Why the two-replica fan-out cannot run in this tree, or undefined when it can: the chat must
 * read DATABASE_URL (PostgreSQL, fan-out through LISTEN/NOTIFY).
 */
export function multiReplicaUnavailable(): string | undefined {
  const config = readFileSync(join(repoRoot, "apps/chat/src/config.ts"), "utf8");
  return config.includes("DATABASE_URL")
    ? undefined
    : "apps/chat does not read DATABASE_URL yet: two replicas over PostgreSQL are not in this tree";
}

function startUserService(workDir: string): Promise<ServerProcess> {
  const dir = join(repoRoot, "apps/user-service");
  return startServer({
    name: "user service (for the chat)",
    command: process.execPath,
    args: ["--import", "tsx", join(dir, "src/main.ts")],
    cwd: dir,
    env: { ...polyrpcEnv, DATABASE_PATH: join(workDir, "chat-users.db") },
    logFile: join(workDir, "chat-user-service.log"),
    portOf: loggedPort("gRPC server listening"),
  });
}

function startChat(workDir: string, name: string, env: Record<string, string>): Promise<ServerProcess> {
  const dir = join(repoRoot, "apps/chat");
  return startServer({
    name,
    command: process.execPath,
    args: ["--import", "tsx", join(dir, "src/main.ts")],
    cwd: dir,
    env: { ...polyrpcEnv, ...env },
    logFile: join(workDir, `${name}.log`),
    portOf: loggedPort("Connect server listening (gRPC, gRPC-Web, Connect)"),
  });
}

/** Starts `replicas` chat processes (1: SQLite; 2: PostgreSQL) and a user service with one user. */
export async function startChatSetup(workDir: string, replicas: 1 | 2): Promise<ChatSetup> {
  const users = await startUserService(workDir);
  const stops: Array<() => Promise<void>> = [() => users.stop()];
  let postgres: TestPostgres | undefined;
  try {
    const { id: userId } = await userClient(users.target).createUser({
      username: `fanout_sender_${replicas}`,
      email: `fanout_sender_${replicas}@example.com`,
      password: "correct horse battery",
    });
    const common = { USER_SERVICE_ADDRESS: users.target };
    const chats: ServerProcess[] = [];
    if (replicas === 1) {
      chats.push(await startChat(workDir, "chat-1", { ...common, DATABASE_PATH: join(workDir, "chat.db") }));
    } else {
      postgres = await startTestPostgres();
      const pg = postgres;
      stops.push(() => pg.destroy());
      const url = await postgres.createDatabase("bench_chat");
      for (const i of [1, 2]) chats.push(await startChat(workDir, `chat-pg-${i}`, { ...common, DATABASE_URL: url }));
    }
    for (const chat of chats) stops.unshift(() => chat.stop());
    return {
      name: replicas === 1 ? "chat x1 (SQLite)" : "chat x2 (PostgreSQL)",
      pids: chats.map((c) => c.pid),
      targets: chats.map((c) => c.target),
      userId,
      async stop() {
        for (const stop of stops) await stop();
      },
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    throw err;
  }
}

let room = 0;

/** One sender, `subscribers` subscribers in a fresh room: delivery latency and deliveries per second. */
export function fanoutCase(profile: Profile, setups: ChatSetup[], subscribers: number, mode: Mode): Case<ChatSetup> {
  return {
    scenario: "chat fan-out",
    mode,
    params: { subscribers, rate: profile.fanoutRate },
    loadgen: "node",
    servers: setups,
    async measure(setup, { warmup }) {
      const seconds = profile.pointS === undefined ? 1 : warmup ? profile.warmupS : profile.pointS;
      const args = ["--import", "tsx", join(benchDir, "src/clients/fanout-client.ts")];
      args.push("--chat", setup.targets.join(","), "--user", setup.userId, "--room", `bench-${room++}`);
      args.push(
        "--subscribers",
        String(subscribers),
        "--rate",
        String(profile.fanoutRate),
        "--duration",
        String(seconds),
      );
      const [command, argv] = pinned(loadgenCpus(mode), process.execPath, args);
      const { stdout } = await run(command, argv, { cwd: benchDir, timeout: 300_000 });
      const r = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, number>;
      const lost = r.expected! - r.delivered!;
      return {
        metrics: { p50Ms: r.p50Ms!, p99Ms: r.p99Ms!, sentPerS: r.sentPerS!, deliveredPerS: r.deliveredPerS! },
        errors: {
          ...(lost > 0 ? { "not delivered in time": lost } : {}),
          ...(r.failed! > 0 ? { "send failed": r.failed! } : {}),
        },
      };
    },
  };
}
