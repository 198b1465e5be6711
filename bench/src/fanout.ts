import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loggedPort, startTestPostgres, type TestPostgres } from "@polyrpc/testing";
import { chatClient, userClient } from "./clients.js";
import { benchDir, repoRoot } from "./paths.js";
import { monotonicMs } from "./proc-stats.js";
import { pinned, runLoadGenerator, startServer, type LoadGeneratorRun, type ServerProcess } from "./processes.js";
import type { Profile } from "./profiles.js";
import { loadgenCpus, type Case, type Mode } from "./runner.js";
import { percentile } from "./stats.js";
import { polyrpcEnv } from "./targets.js";

/** One or more chat replicas sharing a room, with the user service that vouches for the sender. */
export interface ChatSetup {
  name: string;
  pids: number[];
  targets: string[];
  userId: string;
  stop(): Promise<void>;
}

function startUserService(workDir: string): Promise<ServerProcess> {
  const dir = join(repoRoot, "apps/user-service");
  return startServer({
    name: "user service (for the chat)",
    command: process.execPath,
    args: ["--conditions=polyrpc-source", "--import", "tsx", join(dir, "src/main.ts")],
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
    args: ["--conditions=polyrpc-source", "--import", "tsx", join(dir, "src/main.ts")],
    cwd: dir,
    env: { ...polyrpcEnv, ...env },
    logFile: join(workDir, `${name}.log`),
    portOf: loggedPort("Connect server listening (gRPC, gRPC-Web, Connect)"),
  });
}

/** Starts `replicas` chat processes (1: SQLite; 2: PostgreSQL) and a user service with one user. */
export async function startChatSetup(workDir: string, replicas: 1 | 2): Promise<ChatSetup> {
  const users = await startUserService(workDir);
  const stops: Array<() => Promise<unknown>> = [() => users.stop()];
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

/**
 * How long after the sending time deliveries still count (later ones are "not delivered in time").
 * The smoke run, whose numbers mean nothing, waits longer, so that a busy machine does not fail
 * it; a point whose every subscriber saw the sender's last message ends at once either way.
 */
function drainMs(profile: Profile): number {
  return profile.pointS === undefined ? 15_000 : 2000;
}

/** Subscribe streams one subscriber process holds at most: 100 subscribers are 4 processes. */
export const STREAMS_PER_SUBSCRIBER_PROCESS = 25;

interface SubscriberReport {
  streams: number;
  delivered: number;
  unfinished: number;
  failures: number;
  failure?: string;
  cpuCores: number;
}

interface SenderReport {
  sent: number;
  failed: number;
  failure?: string;
  unanswered: number;
  endSent: boolean;
  sendSeconds: number;
  sentPerS: number;
  cpuCores: number;
  serverCpuCores: number;
  serverWaitCores: number;
}

/** The last line a load process printed, parsed; its stderr when it printed none. */
function lastJson<T>(name: string, run: LoadGeneratorRun): T {
  const line = run.stdout.trim().split("\n").pop() ?? "";
  if (run.code !== 0 || !line.startsWith("{")) {
    throw new Error(`${name} exited with ${run.code}: ${(run.stderr || run.stdout).trim().slice(-500)}`);
  }
  return JSON.parse(line) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One sender, `subscribers` subscribers in a fresh room: delivery latency and deliveries per
 * second. The load runs in several processes, so that neither side waits on the other's event
 * loop: one sender (src/clients/fanout-sender.ts) and one subscriber process
 * (src/clients/fanout-subscriber.ts) per STREAMS_PER_SUBSCRIBER_PROCESS streams, all on the load
 * generator's cores (per-core: all of them on core 1, next to each other). Each reports its own CPU
 * while the load runs: `senderCpuCores`, `subscriberCpuCores` (all subscriber processes together);
 * the load generator's CPU is their sum, so near 1.0 per-core means the load side is saturated.
 * `serverCpuCoresSending` is the chat's CPU during the sending time only: the runner's server CPU
 * also spans the load processes' start-up and the drain, when the chat has little to do.
 * `serverWaitCoresSending` is how long its threads waited for a core meanwhile (per second): a
 * chat at 0.6 core that waited 0.4 was short of CPU, not of work; what else ran on its core (other
 * processes, or its own GC and compiler threads, pinned with it) took the rest.
 */
export function fanoutCase(profile: Profile, setups: ChatSetup[], subscribers: number, mode: Mode): Case<ChatSetup> {
  const processes = Math.ceil(subscribers / STREAMS_PER_SUBSCRIBER_PROCESS);
  return {
    scenario: "chat fan-out",
    mode,
    params: { subscribers, rate: profile.fanoutRate },
    loadgen: `node x${processes + 1}`,
    servers: setups,
    async measure(setup, { warmup }) {
      const seconds = profile.pointS === undefined ? 1 : warmup ? profile.warmupS : profile.pointS;
      const roomName = `bench-${room++}`;
      const dir = mkdtempSync(join(tmpdir(), "polyrpc-fanout-"));
      const cpus = loadgenCpus(mode);
      const tsx = ["--conditions=polyrpc-source", "--import", "tsx"];
      try {
        const subscriberRuns: Array<Promise<LoadGeneratorRun>> = [];
        for (let p = 0, first = 0; p < processes; p++) {
          const streams = Math.min(STREAMS_PER_SUBSCRIBER_PROCESS, subscribers - first);
          const args = [...tsx, join(benchDir, "src/clients/fanout-subscriber.ts"), "--chat", setup.targets.join(",")];
          args.push("--room", roomName, "--streams", String(streams), "--first", String(first));
          args.push("--dir", dir, "--id", String(p));
          subscriberRuns.push(runLoadGenerator(...pinned(cpus, process.execPath, args)));
          first += streams;
        }
        // Every stream is live once it has seen a message sent after it subscribed.
        const sender = chatClient(setup.targets[0]!);
        const readyBy = performance.now() + 60_000;
        const allReady = () => Array.from({ length: processes }, (_, p) => existsSync(join(dir, `ready-${p}`)));
        let exited = false;
        void Promise.race(subscriberRuns).then(() => (exited = true));
        while (!allReady().every(Boolean)) {
          if (exited) break; // a subscriber process died: its report below says why
          if (performance.now() > readyBy) throw new Error("the fan-out subscribers did not become ready in 60 s");
          // A busy machine may time a call out; the deadline above decides when to give up.
          await sender.sendMessage({ room: roomName, userId: setup.userId, text: "ready" }).catch(() => {});
          await sleep(100);
        }
        let senderRun: LoadGeneratorRun | undefined;
        if (!exited) {
          const args = [...tsx, join(benchDir, "src/clients/fanout-sender.ts"), "--chat", setup.targets[0]!];
          args.push("--user", setup.userId, "--room", roomName, "--rate", String(profile.fanoutRate));
          args.push("--duration", String(seconds), "--dir", dir, "--drain", String(drainMs(profile)));
          args.push("--server-pids", setup.pids.join(","));
          // The sender starts the drain when its sending time is over; if it died, it is over now.
          senderRun = await runLoadGenerator(...pinned(cpus, process.execPath, args)).finally(() => drainIn(dir));
        } else drainIn(dir);
        const subscriberDone = await Promise.all(subscriberRuns);
        const reports = subscriberDone.map((r, p) => lastJson<SubscriberReport>(`fan-out subscriber process ${p}`, r));
        if (!senderRun) throw new Error("a fan-out subscriber process ended before the others were ready");
        const senderReport = lastJson<SenderReport>("the fan-out sender", senderRun);
        const files = reports.map((_, p) => readFileSync(join(dir, `lat-${p}.bin`)));
        const sorted = new Float64Array(files.reduce((n, bytes) => n + bytes.byteLength / 8, 0));
        let at = 0;
        for (const bytes of files) {
          sorted.set(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8), at);
          at += bytes.byteLength / 8;
        }
        sorted.sort();
        const latencies = Array.from(sorted);
        const expected = senderReport.sent * subscribers;
        const lost = expected - latencies.length;
        const failedStreams = reports.reduce((n, r) => n + r.failures, 0);
        const subscriberCpuCores = reports.reduce((n, r) => n + r.cpuCores, 0);
        return {
          metrics: {
            p50Ms: percentile(latencies, 50),
            p99Ms: percentile(latencies, 99),
            sentPerS: senderReport.sentPerS,
            deliveredPerS: latencies.length / senderReport.sendSeconds,
            serverCpuCoresSending: senderReport.serverCpuCores,
            serverWaitCoresSending: senderReport.serverWaitCores,
            senderCpuCores: senderReport.cpuCores,
            subscriberCpuCores,
          },
          loadgen: {
            cpuCores: senderReport.cpuCores + subscriberCpuCores,
            peakRssMiB: [senderRun, ...subscriberDone].reduce((n, r) => n + r.usage.peakRssMiB, 0),
          },
          errors: {
            ...(lost > 0 ? { "not delivered in time": lost } : {}),
            ...(senderReport.failed > 0
              ? { [`send failed (${senderReport.failure?.slice(0, 120)})`]: senderReport.failed }
              : {}),
            ...(senderReport.unanswered > 0 ? { "send not answered in time": senderReport.unanswered } : {}),
            ...(failedStreams > 0
              ? {
                  [`subscriber stream failed (${reports.find((r) => r.failure)?.failure?.slice(0, 120)})`]:
                    failedStreams,
                }
              : {}),
          },
        };
      } finally {
        drainIn(dir);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Tells the subscriber processes to stop waiting for deliveries now, unless the sender already set when. */
function drainIn(dir: string): void {
  const path = join(dir, "drain");
  if (!existsSync(path)) writeFileSync(path, String(monotonicMs()));
}
