import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fanoutCase, startChatSetup, type ChatSetup } from "./fanout.js";
import { machineInfo } from "./machine.js";
import { repoRoot, tool } from "./paths.js";
import { killAll } from "./processes.js";
import type { Profile } from "./profiles.js";
import { writeProtoset } from "./protoset.js";
import { writeReport } from "./report.js";
import type { BenchResults } from "./results.js";
import { runCase, type Case, type CaseServer, type Mode } from "./runner.js";
import {
  chatEchoCase,
  createUsersCase,
  listUsersCase,
  unaryAtRateCase,
  unaryClosedCase,
  unaryFixedRateCase,
  unaryH2loadCase,
  type ScenarioContext,
} from "./scenarios.js";
import { envoyTarget } from "./envoy.js";
import {
  goTarget,
  polyrpcTarget,
  polyrpcWorkersTarget,
  pythonTarget,
  runtimeTarget,
  type RunningTarget,
  type TargetContext,
  type TargetDef,
} from "./targets.js";

/** The groups of scenarios; BENCH_ONLY picks some. */
export const GROUPS = ["users", "runtimes", "fanout"] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchOptions {
  profile: Profile;
  groups: readonly Group[];
  /** Where results.json, results.md and the SVG charts go. */
  outDir: string;
  log?: (message: string) => void;
}

/** Runs the benchmark and writes its results; resolves with them. */
export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const { profile, groups } = options;
  const log = options.log ?? ((m: string) => console.log(`[bench] ${m}`));
  const started = Date.now();
  const workDir = mkdtempSync(join(tmpdir(), "polyrpc-bench-"));
  const ghz = tool("ghz");
  const h2load = tool("h2load");
  const results: BenchResults = {
    profile,
    startedAt: new Date(started).toISOString(),
    durationS: 0,
    machine: machineInfo({ ghz, h2load, python: join(repoRoot, "interop/python/.venv/bin/python") }),
    servers: {},
    points: [],
    skipped: [],
  };
  const ctx: ScenarioContext = {
    profile,
    ghz,
    h2load,
    protoset: writeProtoset(join(workDir, "user.protoset")),
    workDir,
    results: results.points,
  };
  const targetCtx: TargetContext = { workDir, listUsers: profile.listUsers, log };
  // A point that fails (a load generator that times out, a server that dies) is written down as
  // not measured, with the reason; the run goes on to the next one.
  // Servers measured in some modes only (TargetDef.modes) sit out the points of other modes.
  const modesOf = new Map<string, readonly Mode[]>();
  const run = async <S extends CaseServer>(all: Case<S>) => {
    const c = { ...all, servers: all.servers.filter((s) => modesOf.get(s.name)?.includes(all.mode) ?? true) };
    if (c.servers.length === 0) return;
    try {
      results.points.push(...(await runCase(c, profile, log)));
    } catch (err) {
      const reason = String((err as Error).message ?? err)
        .split("\n")[0]!
        .slice(0, 300);
      results.skipped.push({
        what: `${c.scenario} ${JSON.stringify(c.params)} ${c.mode}`,
        reason: `failed: ${reason}`,
      });
      log(`${c.scenario} ${JSON.stringify(c.params)} ${c.mode} failed: ${reason}`);
    }
  };
  const startAll = async (defs: TargetDef[]): Promise<RunningTarget[]> => {
    const running: RunningTarget[] = [];
    for (const def of defs) {
      const reason = def.unavailable();
      if (reason) {
        results.skipped.push({ what: def.name, reason });
        log(`skipping ${def.name}: ${reason}`);
        continue;
      }
      if (def.modes) {
        if (!def.modes.some((m) => profile.modes.includes(m))) {
          results.skipped.push({ what: def.name, reason: `measured in ${def.modes.join(", ")} mode only` });
          continue;
        }
        modesOf.set(def.name, def.modes);
      }
      log(`starting ${def.name}`);
      running.push(await def.start(targetCtx));
      results.servers[def.name] = def.description;
    }
    return running;
  };

  try {
    if (groups.includes("users")) {
      const defs = [polyrpcTarget, polyrpcWorkersTarget, goTarget, pythonTarget, envoyTarget];
      const servers = await startAll(defs);
      const streaming = servers.filter((s) => defs.find((d) => d.name === s.name)!.streamsListUsers);
      const plaintext = servers.filter((s) => !s.caCert);
      try {
        for (const mode of profile.modes) {
          for (const c of profile.concurrencies) await run(unaryClosedCase(ctx, servers, "GetUser", c, mode));
          await run(unaryH2loadCase(ctx, plaintext, mode));
          await run(unaryFixedRateCase(ctx, servers, "GetUser", mode));
        }
        const mode: Mode = "per-core";
        const envoy = servers.find((s) => s.name === envoyTarget.name);
        const direct = servers.find((s) => s.name === polyrpcTarget.name);
        if (envoy && direct) {
          await run(unaryAtRateCase(ctx, [direct, envoy], profile.envoyRate, "whole-box", "Envoy hop GetUser"));
        } else results.skipped.push({ what: "Envoy hop GetUser", reason: envoyTarget.unavailable() ?? "no Envoy" });
        for (const streams of [1, 16]) await run(listUsersCase(ctx, streaming, streams, mode));
        results.skipped.push({
          what: "stream ListUsers on go and python",
          reason:
            "the docs' servers sleep 100 ms after every user they stream (documented behaviour), so it would time the sleep",
        });
        await run(chatEchoCase(ctx, servers, mode));
        for (const c of profile.concurrencies) await run(unaryClosedCase(ctx, servers, "CreateUser", c, mode));
        await run(unaryFixedRateCase(ctx, servers, "CreateUser", mode));
        await run(createUsersCase(ctx, servers, mode));
      } finally {
        for (const s of servers) await s.stop();
      }
    }

    if (groups.includes("runtimes")) {
      const servers = await startAll([runtimeTarget("grpc-js"), runtimeTarget("connect-node")]);
      const mode: Mode = "per-core";
      const scenario = "runtimes GetUser";
      try {
        for (const c of profile.concurrencies) await run(unaryClosedCase(ctx, servers, "GetUser", c, mode, scenario));
        await run(unaryH2loadCase(ctx, servers, mode, scenario));
        await run(chatEchoCase(ctx, servers, mode));
      } finally {
        for (const s of servers) await s.stop();
      }
    }

    if (groups.includes("fanout")) {
      const setups: ChatSetup[] = [];
      try {
        log("starting chat x1");
        setups.push(await startChatSetup(workDir, 1));
        log("starting chat x2 over PostgreSQL");
        try {
          setups.push(await startChatSetup(workDir, 2));
        } catch (err) {
          const reason = `two chat replicas over PostgreSQL did not start: ${(err as Error).message.slice(0, 300)}`;
          results.skipped.push({ what: "chat fan-out on two replicas over PostgreSQL", reason });
          log(reason);
        }
        for (const setup of setups) results.servers[setup.name] = `apps/chat: ${setup.targets.length} replica(s)`;
        for (const subscribers of profile.fanoutSubscribers)
          await run(fanoutCase(profile, setups, subscribers, "per-core"));
      } finally {
        for (const setup of setups) await setup.stop();
      }
    }
  } catch (err) {
    killAll();
    throw err;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  results.durationS = Math.round((Date.now() - started) / 1000);
  mkdirSync(options.outDir, { recursive: true });
  writeReport(results, options.outDir);
  log(`done in ${results.durationS} s; results in ${options.outDir}`);
  return results;
}
