import type { ServerUsage } from "./proc-stats.js";
import { pinned, runLoadGenerator, type Cpus } from "./processes.js";

/** One h2load run: the same gRPC request, as raw HTTP/2 POSTs. */
export interface H2loadOptions {
  h2load: string;
  /** `http://127.0.0.1:port/package.Service/Method` */
  url: string;
  /** The request body: one gRPC frame (see grpc-frame.ts). */
  dataFile: string;
  clients: number;
  /** Concurrent streams per client. */
  streams: number;
  threads: number;
  durationS?: number;
  total?: number;
  cpus: Cpus;
}

export interface H2loadResult {
  succeeded: number;
  failed: number;
  errored: number;
  rps: number;
  meanMs: number;
  loadgen: ServerUsage;
}

const MS = { us: 1e-3, ms: 1, s: 1000 } as const;

/**
 * Reads h2load's text report. h2load counts HTTP statuses only; a gRPC error would still be a
 * 200, so the harness checks each request with ghz first, where grpc-status is read.
 */
export function parseH2loadReport(text: string): Omit<H2loadResult, "loadgen"> {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text);
  const requests = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
    text,
  );
  const time = /time for request:\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)\b/.exec(text);
  if (!finished || !requests) throw new Error(`unexpected h2load output:\n${text}`);
  return {
    rps: Number(finished[1]),
    succeeded: Number(requests[1]),
    failed: Number(requests[2]),
    errored: Number(requests[3]),
    meanMs: time ? Number(time[1]) * MS[time[2] as keyof typeof MS] : NaN,
  };
}

export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  const args = [
    "--clients", String(options.clients),
    "--max-concurrent-streams", String(options.streams),
    "--threads", String(options.threads),
    "--data", options.dataFile,
    "--header", "content-type: application/grpc",
    "--header", "te: trailers",
  ]; // prettier-ignore
  if (options.durationS !== undefined) args.push("--duration", String(options.durationS));
  else args.push("--requests", String(options.total ?? 200));
  args.push(options.url);
  const [command, argv] = pinned(options.cpus, options.h2load, args);
  const { code, stdout, stderr, usage: loadgen } = await runLoadGenerator(command, argv);
  if (code !== 0) throw new Error(`h2load exited with ${code}: ${stderr}${stdout}`);
  return { ...parseH2loadReport(stdout), loadgen };
}
