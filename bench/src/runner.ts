import { measureUsage, type ServerUsage } from "./proc-stats.js";
import { allCpus, pin, type Cpus } from "./processes.js";
import type { Profile } from "./profiles.js";
import { spread, type Spread } from "./stats.js";

export type Mode = "per-core" | "whole-box";

/** Where the load generator runs in a mode; the server's cores are set with `pinServer`. */
export function loadgenCpus(mode: Mode): Cpus {
  return mode === "per-core" ? "1" : undefined;
}

/** Pins every thread of a server's processes: core 0 per core, every core for the whole box. */
export async function pinServer(pids: readonly number[], mode: Mode): Promise<void> {
  for (const pid of pids) await pin(pid, mode === "per-core" ? "0" : allCpus());
}

/** One measurement of one point on one server. */
export interface Sample {
  metrics: Record<string, number>;
  loadgen?: ServerUsage;
  errors?: Record<string, number>;
}

/** A server a case measures. */
export interface CaseServer {
  name: string;
  pids: number[];
}

/** One point (scenario, parameters, mode) measured on several servers. */
export interface Case<S extends CaseServer = CaseServer> {
  scenario: string;
  mode: Mode;
  params: Record<string, number | string>;
  /** What generated the load: ghz, h2load, node. */
  loadgen: string;
  servers: readonly S[];
  measure(server: S, options: { warmup: boolean }): Promise<Sample>;
}

/** A point's repetitions on one server, summarised. */
export interface PointResult {
  scenario: string;
  mode: Mode;
  params: Record<string, number | string>;
  server: string;
  loadgen: string;
  metrics: Record<string, Spread>;
  serverCpuCores: Spread;
  serverPeakRssMiB: Spread;
  loadgenCpuCores?: Spread;
  /** Calls that failed, summed over the repetitions. */
  errors: Record<string, number>;
}

/**
 * Runs a case: a warm-up per server (discarded), then `profile.reps` rounds in which every server
 * is measured once, in turn (A B C A B C ...), so slow drifts of a shared machine hit all alike.
 */
export async function runCase<S extends CaseServer>(
  c: Case<S>,
  profile: Profile,
  log: (message: string) => void,
): Promise<PointResult[]> {
  const samples = new Map<string, Array<Sample & { usage: ServerUsage }>>();
  for (const server of c.servers) {
    await pinServer(server.pids, c.mode);
    if (profile.warmupS > 0) await c.measure(server, { warmup: true });
    samples.set(server.name, []);
  }
  for (let rep = 0; rep < profile.reps; rep++) {
    for (const server of c.servers) {
      await pinServer(server.pids, c.mode);
      const usage = measureUsage(server.pids);
      const sample = await c.measure(server, { warmup: false });
      samples.get(server.name)!.push({ ...sample, usage: usage.stop() });
    }
  }
  const results: PointResult[] = [];
  for (const server of c.servers) {
    const runs = samples.get(server.name)!;
    const metrics: Record<string, Spread> = {};
    for (const key of Object.keys(runs[0]!.metrics)) metrics[key] = spread(runs.map((r) => r.metrics[key]!));
    const errors: Record<string, number> = {};
    for (const run of runs) for (const [k, n] of Object.entries(run.errors ?? {})) errors[k] = (errors[k] ?? 0) + n;
    const loadgen = runs.every((r) => r.loadgen) ? spread(runs.map((r) => r.loadgen!.cpuCores)) : undefined;
    const result: PointResult = {
      scenario: c.scenario,
      mode: c.mode,
      params: c.params,
      server: server.name,
      loadgen: c.loadgen,
      metrics,
      serverCpuCores: spread(runs.map((r) => r.usage.cpuCores)),
      serverPeakRssMiB: spread(runs.map((r) => r.usage.peakRssMiB)),
      ...(loadgen ? { loadgenCpuCores: loadgen } : {}),
      errors,
    };
    results.push(result);
    const shown = Object.entries(metrics)
      .map(([k, s]) => `${k}=${s.median.toFixed(s.median < 10 ? 2 : 0)}`)
      .join(" ");
    const failed = Object.keys(errors).length > 0 ? ` errors=${JSON.stringify(errors)}` : "";
    log(
      `${c.scenario} ${JSON.stringify(c.params)} ${c.mode} ${server.name}: ${shown} cpu=${result.serverCpuCores.median.toFixed(2)}${failed}`,
    );
  }
  return results;
}
