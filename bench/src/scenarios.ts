import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetUserRequestSchema } from "@polyrpc/proto";
import { runGhz, type GhzResult } from "./ghz.js";
import { writeGrpcFrame } from "./grpc-frame.js";
import { runH2load } from "./h2load.js";
import { benchDir } from "./paths.js";
import { pinned } from "./processes.js";
import type { Profile } from "./profiles.js";
import { loadgenCpus, type Case, type Mode, type PointResult, type Sample } from "./runner.js";
import type { RunningTarget } from "./targets.js";

const run = promisify(execFile);

/** The tools and files every scenario uses. */
export interface ScenarioContext {
  profile: Profile;
  ghz: string;
  h2load: string;
  protoset: string;
  workDir: string;
  /** Results so far (the fixed-rate points read the measured maxima). */
  results: readonly PointResult[];
}

let runTag = 0;
/** A prefix no earlier call of this run used, for unique usernames across repetitions. */
function tag(): string {
  return `b${process.pid % 1000}x${(runTag++).toString(36)}_`;
}

function ghzSample(result: GhzResult, metrics: Record<string, number>): Sample {
  return { metrics, loadgen: result.loadgen, errors: result.errors };
}

/** Duration (or call count) of a point; warm-ups are shorter. */
function length(ctx: ScenarioContext, warmup: boolean): { durationS?: number; total?: number } {
  const { pointS, warmupS, calls } = ctx.profile;
  if (pointS === undefined) return { total: calls };
  return { durationS: warmup ? warmupS : pointS };
}

function ghzBase(ctx: ScenarioContext, server: RunningTarget, mode: Mode) {
  return {
    ghz: ctx.ghz,
    protoset: ctx.protoset,
    target: server.target,
    cpus: loadgenCpus(mode),
    goMaxProcs: mode === "per-core" ? 1 : 2,
    ...(server.caCert ? { caCert: server.caCert } : {}),
  };
}

function dataFile(ctx: ScenarioContext, name: string, data: unknown): string {
  const path = join(ctx.workDir, name);
  writeFileSync(path, typeof data === "string" ? data : JSON.stringify(data));
  return path;
}

/** A CreateUser request whose username and email ghz makes unique per call. */
function createUserTemplate(prefix: string): string {
  return JSON.stringify({
    username: `${prefix}{{.RequestNumber}}`,
    email: `${prefix}{{.RequestNumber}}@example.com`,
    password: "correct horse battery",
  });
}

export type UnaryMethod = "GetUser" | "CreateUser";

function unaryData(ctx: ScenarioContext, server: RunningTarget, method: UnaryMethod): string {
  return method === "GetUser"
    ? dataFile(ctx, `get-${server.name}.json`, { id: server.userId })
    : dataFile(ctx, `create-${server.name}-${runTag}.json`, createUserTemplate(tag()));
}

/** Closed-loop unary calls from ghz at a fixed concurrency: throughput and latency. */
export function unaryClosedCase(
  ctx: ScenarioContext,
  servers: RunningTarget[],
  method: UnaryMethod,
  concurrency: number,
  mode: Mode,
  scenario = `unary ${method}`,
): Case<RunningTarget> {
  return {
    scenario,
    mode,
    params: { loadgen: "ghz", concurrency },
    loadgen: "ghz",
    servers,
    async measure(server, { warmup }) {
      const result = await runGhz({
        ...ghzBase(ctx, server, mode),
        call: `user.UserService.${method}`,
        dataFile: unaryData(ctx, server, method),
        concurrency,
        ...length(ctx, warmup),
      });
      return ghzSample(result, { rps: result.rps, p50Ms: result.p50Ms, p99Ms: result.p99Ms });
    },
  };
}

/**
 * The same GetUser as raw HTTP/2 from h2load, whose per-call CPU is a fraction of ghz's: where
 * ghz on its core tops out first, this still finds the server's maximum.
 */
export function unaryH2loadCase(
  ctx: ScenarioContext,
  servers: RunningTarget[],
  mode: Mode,
  scenario = "unary GetUser",
): Case<RunningTarget> {
  const clients = 4;
  const streams = 16;
  return {
    scenario,
    mode,
    params: { loadgen: "h2load", concurrency: clients * streams },
    loadgen: "h2load",
    servers,
    async measure(server, { warmup }) {
      if (server.caCert) throw new Error("the h2load points run in plaintext only");
      const result = await runH2load({
        h2load: ctx.h2load,
        url: `http://${server.target}/user.UserService/GetUser`,
        dataFile: writeGrpcFrame(join(ctx.workDir, `get-${server.name}.bin`), GetUserRequestSchema, {
          id: server.userId,
        }),
        clients,
        streams,
        threads: mode === "per-core" ? 1 : 2,
        cpus: loadgenCpus(mode),
        ...length(ctx, warmup),
      });
      const errors =
        result.failed + result.errored > 0 ? { "HTTP failures": result.failed + result.errored } : undefined;
      return {
        metrics: { rps: result.rps, meanMs: result.meanMs },
        loadgen: result.loadgen,
        ...(errors ? { errors } : {}),
      };
    },
  };
}

/** The best closed-loop throughput measured for `server` in `scenario` and `mode` so far. */
export function measuredMax(ctx: ScenarioContext, scenario: string, mode: Mode, server: string): number {
  const rates = ctx.results
    .filter((r) => r.scenario === scenario && r.mode === mode && r.server === server && r.params.rate === undefined)
    .map((r) => r.metrics.rps?.median ?? 0);
  return Math.max(0, ...rates);
}

/** Open-loop ghz at about half the server's measured maximum: latency percentiles under steady load. */
export function unaryFixedRateCase(
  ctx: ScenarioContext,
  servers: RunningTarget[],
  method: UnaryMethod,
  mode: Mode,
  scenario = `unary ${method}`,
): Case<RunningTarget> {
  return {
    scenario,
    mode,
    params: { loadgen: "ghz", rate: "half of max" },
    loadgen: "ghz",
    servers,
    async measure(server, { warmup }) {
      const rate = Math.max(10, Math.round(measuredMax(ctx, scenario, mode, server.name) / 2));
      const result = await runGhz({
        ...ghzBase(ctx, server, mode),
        call: `user.UserService.${method}`,
        dataFile: unaryData(ctx, server, method),
        concurrency: 32,
        rps: rate,
        ...length(ctx, warmup),
      });
      return ghzSample(result, {
        targetRps: rate,
        rps: result.rps,
        p50Ms: result.p50Ms,
        p90Ms: result.p90Ms,
        p99Ms: result.p99Ms,
      });
    },
  };
}

/** Open-loop ghz at a fixed rate (the Envoy hop's 2,000 calls/s). */
export function unaryAtRateCase(
  ctx: ScenarioContext,
  servers: RunningTarget[],
  rate: number,
  mode: Mode,
  scenario: string,
): Case<RunningTarget> {
  return {
    scenario,
    mode,
    params: { loadgen: "ghz", rate },
    loadgen: "ghz",
    servers,
    async measure(server, { warmup }) {
      const result = await runGhz({
        ...ghzBase(ctx, server, mode),
        call: "user.UserService.GetUser",
        dataFile: unaryData(ctx, server, "GetUser"),
        concurrency: 32,
        rps: rate,
        ...length(ctx, warmup),
      });
      return ghzSample(result, { rps: result.rps, p50Ms: result.p50Ms, p90Ms: result.p90Ms, p99Ms: result.p99Ms });
    },
  };
}

/** Server-streaming ListUsers of every seeded user, on `streams` concurrent streams: messages per second. */
export function listUsersCase(
  ctx: ScenarioContext,
  servers: RunningTarget[],
  streams: number,
  mode: Mode,
): Case<RunningTarget> {
  return {
    scenario: "stream ListUsers",
    mode,
    params: { streams, users: ctx.profile.listUsers },
    loadgen: "ghz",
    servers,
    async measure(server, { warmup }) {
      const { durationS } = length(ctx, warmup);
      const result = await runGhz({
        ...ghzBase(ctx, server, mode),
        call: "user.UserService.ListUsers",
        dataFile: dataFile(ctx, "list.json", {}),
        concurrency: streams,
        ...(durationS === undefined ? { total: Math.max(streams, 3) } : { durationS }),
      });
      return ghzSample(result, {
        messagesPerS: (result.ok * server.listedUsers) / result.totalS,
        callsPerS: result.rps,
        p50Ms: result.p50Ms,
      });
    },
  };
}

/** Client-streaming CreateUsers of `profile.bulk` users per call: users per second. */
export function createUsersCase(ctx: ScenarioContext, servers: RunningTarget[], mode: Mode): Case<RunningTarget> {
  const bulk = ctx.profile.bulk;
  return {
    scenario: "stream CreateUsers",
    mode,
    params: { perCall: bulk, concurrency: 1 },
    loadgen: "ghz",
    servers,
    async measure(server, { warmup }) {
      const prefix = tag();
      const requests = Array.from({ length: bulk }, (_, i) => ({
        username: `${prefix}{{.RequestNumber}}_${i}`,
        email: `${prefix}{{.RequestNumber}}_${i}@example.com`,
        password: "correct horse battery",
      }));
      const { durationS } = length(ctx, warmup);
      const result = await runGhz({
        ...ghzBase(ctx, server, mode),
        call: "user.UserService.CreateUsers",
        dataFile: dataFile(ctx, `bulk-${server.name}.json`, requests),
        concurrency: 1,
        ...(durationS === undefined ? { total: 2 } : { durationS }),
      });
      return ghzSample(result, { usersPerS: (result.ok * bulk) / result.totalS, p50Ms: result.p50Ms });
    },
  };
}

/** Bidi Chat echo, one message in flight (src/clients/echo-rtt.ts): round-trip latency. */
export function chatEchoCase(ctx: ScenarioContext, servers: RunningTarget[], mode: Mode): Case<RunningTarget> {
  return {
    scenario: "bidi Chat echo",
    mode,
    params: { inFlight: 1 },
    loadgen: "node",
    servers,
    async measure(server, { warmup }) {
      const seconds = ctx.profile.pointS === undefined ? 0.5 : warmup ? ctx.profile.warmupS : ctx.profile.pointS;
      const args = [
        "--conditions=polyrpc-source",
        "--import",
        "tsx",
        join(benchDir, "src/clients/echo-rtt.ts"),
        "--target",
        server.target,
      ];
      args.push("--duration", String(seconds), "--warmup", warmup ? "0" : "0.2");
      if (server.caCert) args.push("--ca", server.caCert);
      const [command, argv] = pinned(loadgenCpus(mode), process.execPath, args);
      const { stdout } = await run(command, argv, { cwd: benchDir, timeout: 120_000 });
      const r = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, number>;
      return { metrics: { p50Us: r.p50Us!, p99Us: r.p99Us!, roundTripsPerS: r.perS! } };
    },
  };
}
