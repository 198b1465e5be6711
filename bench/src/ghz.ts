import type { ServerUsage } from "./proc-stats.js";
import { pinned, runLoadGenerator, type Cpus } from "./processes.js";

/** One ghz run. */
export interface GhzOptions {
  ghz: string;
  protoset: string;
  target: string;
  /** `package.Service.Method` */
  call: string;
  /** A request (or, for client streaming, an array of them) as a JSON file; ghz's templates apply. */
  dataFile: string;
  concurrency: number;
  /** Stop after this long... */
  durationS?: number;
  /** ...or after this many calls. */
  total?: number;
  /** Fixed rate in calls per second (open loop); unlimited when omitted. */
  rps?: number;
  connections?: number;
  /** Where ghz runs, and how many cores it may use (GOMAXPROCS). */
  cpus: Cpus;
  goMaxProcs: number;
  /** The CA of a TLS server, which must present a certificate for `localhost`. */
  caCert?: string;
}

/** What a run measured. */
export interface GhzResult {
  count: number;
  ok: number;
  /** Calls that did not end OK, by status or error text. */
  errors: Record<string, number>;
  totalS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** ghz's own CPU: a load generator at its limit caps what it can measure. */
  loadgen: ServerUsage;
}

interface GhzJson {
  count: number;
  total: number;
  average: number;
  rps: number;
  latencyDistribution: Array<{ percentage: number; latency: number }> | null;
  statusCodeDistribution: Record<string, number> | null;
  errorDistribution: Record<string, number> | null;
}

/** Reads ghz's `--format json` report (durations in nanoseconds). */
export function parseGhzReport(text: string): Omit<GhzResult, "loadgen"> {
  const report = JSON.parse(text) as GhzJson;
  const at = (p: number) => (report.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
  const statuses = report.statusCodeDistribution ?? {};
  const errors: Record<string, number> = {};
  for (const [code, n] of Object.entries(statuses)) if (code !== "OK") errors[code] = n;
  for (const [message, n] of Object.entries(report.errorDistribution ?? {})) errors[message] = n;
  return {
    count: report.count,
    ok: statuses.OK ?? 0,
    errors,
    totalS: report.total / 1e9,
    rps: report.rps,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    meanMs: report.average / 1e6,
  };
}

/** Runs ghz and returns its report. */
export async function runGhz(options: GhzOptions): Promise<GhzResult> {
  const args = [
    "--protoset", options.protoset,
    "--call", options.call,
    "--data-file", options.dataFile,
    "--concurrency", String(options.concurrency),
    "--connections", String(options.connections ?? 1),
    "--cpus", String(options.goMaxProcs),
    "--timeout", "60s",
    "--format", "json",
  ]; // prettier-ignore
  if (options.caCert) args.push("--cacert", options.caCert, "--cname", "localhost");
  else args.push("--insecure");
  if (options.durationS !== undefined) args.push("--duration", `${options.durationS}s`, "--total", "0");
  else args.push("--total", String(options.total ?? 200));
  if (options.rps !== undefined) args.push("--rps", String(Math.max(1, Math.round(options.rps))));
  args.push(options.target);
  const [command, argv] = pinned(options.cpus, options.ghz, args);
  const { code, stdout, stderr, usage: loadgen } = await runLoadGenerator(command, argv);
  if (code !== 0 || stdout.trim() === "") throw new Error(`ghz exited with ${code}: ${stderr || stdout}`);
  const report = parseGhzReport(stdout);
  return { ...(options.durationS !== undefined ? withoutCutOff(report) : report), loadgen };
}

/** What ghz reports for the calls still in flight when a `--duration` run stops and closes its connections. */
const CUT_OFF: Record<string, string> = {
  "rpc error: code = Unavailable desc = transport is closing": "Unavailable",
  "rpc error: code = Canceled desc = grpc: the client connection is closing": "Canceled",
};

/**
 * A `--duration` run ends by closing its connections under the calls in flight; ghz counts them
 * as failures. They are the run's end, not the server's: drop them, and rate only OK calls.
 */
export function withoutCutOff(report: Omit<GhzResult, "loadgen">): Omit<GhzResult, "loadgen"> {
  const errors = { ...report.errors };
  for (const [message, code] of Object.entries(CUT_OFF)) {
    const n = errors[message];
    if (n === undefined) continue;
    delete errors[message];
    const left = (errors[code] ?? 0) - n;
    if (left > 0) errors[code] = left;
    else delete errors[code];
  }
  return { ...report, errors, rps: report.ok / report.totalS };
}
