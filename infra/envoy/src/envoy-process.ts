import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { toolPath } from "./tools.js";

const run = promisify(execFile);

/** Runs `envoy --mode validate` on a configuration; resolves with Envoy's output, rejects with it. */
export async function validateEnvoyConfig(configPath: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(
      toolPath("envoy"),
      ["--mode", "validate", "-c", configPath, "--log-level", "warn", "--disable-hot-restart"],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout + stderr;
  } catch (err) {
    const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
    throw new Error(`envoy --mode validate -c ${configPath} failed:\n${stdout}${stderr}`);
  }
}

/** One upstream host of a cluster, as Envoy's admin /clusters reports it. */
export interface UpstreamHost {
  /** `address:port` */
  address: string;
  /** Requests Envoy sent to this host so far (`rq_total`). */
  requests: number;
  /** False once an active health check failed or outlier detection ejected it. */
  healthy: boolean;
  /** Envoy's health flags, such as `/failed_active_hc` or `/failed_outlier_check`. */
  flags: string[];
}

/** A running Envoy. */
export interface EnvoyProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<admin port>` */
  adminUrl: string;
  /** Everything Envoy printed so far. */
  output(): string;
  /** The hosts of a cluster with their request counts and health. */
  hosts(cluster: string): Promise<UpstreamHost[]>;
  /** Envoy's counters and gauges whose names match `filter` (a regular expression), by name. */
  stats(filter: string): Promise<Record<string, number>>;
  /** Resolves once every host of `cluster` passes its health checks (rejects after `timeoutMs`). */
  waitForHealthy(cluster: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, SIGKILL after a grace period; resolves once it exited. */
  stop(): Promise<void>;
}

interface ClustersJson {
  cluster_statuses?: Array<{
    name: string;
    host_statuses?: Array<{
      address?: { socket_address?: { address?: string; port_value?: number } };
      stats?: Array<{ name?: string; value?: string }>;
      health_status?: Record<string, unknown> & { eds_health_status?: string };
    }>;
  }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of `startEnvoy`. */
export interface StartEnvoyOptions {
  /** The rendered envoy.yaml. */
  configPath: string;
  /** The admin port the configuration sets (127.0.0.1). */
  adminPort: number;
  /** Passed on stdout/stderr lines, for a script that shows Envoy's log. */
  onLine?: (line: string) => void;
  /** How long to wait for /ready (default 30 s). */
  timeoutMs?: number;
}

/**
 * Starts Envoy on a rendered configuration (one worker thread, no hot restart so that several can
 * run on one machine) and resolves once its admin /ready answers LIVE.
 */
export async function startEnvoy(options: StartEnvoyOptions): Promise<EnvoyProcess> {
  const child = spawn(
    toolPath("envoy"),
    ["-c", options.configPath, "--concurrency", "1", "--disable-hot-restart", "--log-level", "info"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      if (options.onLine) for (const line of text.split("\n")) if (line !== "") options.onLine(line);
    });
  }
  const adminUrl = `http://127.0.0.1:${options.adminPort}`;

  async function hosts(cluster: string): Promise<UpstreamHost[]> {
    const response = await fetch(`${adminUrl}/clusters?format=json`);
    const json = (await response.json()) as ClustersJson;
    const status = json.cluster_statuses?.find((c) => c.name === cluster);
    if (!status) throw new Error(`Envoy has no cluster ${cluster}`);
    return (status.host_statuses ?? []).map((host) => {
      const socket = host.address?.socket_address;
      const flags = Object.entries(host.health_status ?? {})
        .filter(([key, value]) => key !== "eds_health_status" && value === true)
        .map(([key]) => key);
      return {
        address: `${socket?.address}:${socket?.port_value}`,
        requests: Number(host.stats?.find((s) => s.name === "rq_total")?.value ?? 0),
        healthy: flags.length === 0,
        flags,
      };
    });
  }

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Envoy exited before it was ready:\n${output}`);
    }
    try {
      const response = await fetch(`${adminUrl}/ready`);
      if ((await response.text()).trim() === "LIVE") break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Envoy was not ready within ${options.timeoutMs ?? 30_000} ms:\n${output}`);
    }
    await sleep(100);
  }

  return {
    child,
    adminUrl,
    output: () => output,
    hosts,
    async stats(filter) {
      const response = await fetch(`${adminUrl}/stats?format=json&filter=${encodeURIComponent(filter)}`);
      const json = (await response.json()) as { stats?: Array<{ name?: string; value?: number }> };
      return Object.fromEntries(
        (json.stats ?? []).filter((s) => s.name && typeof s.value === "number").map((s) => [s.name!, s.value!]),
      );
    },
    async waitForHealthy(cluster, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const list = await hosts(cluster);
        if (list.length > 0 && list.every((h) => h.healthy)) return;
        if (Date.now() > until) throw new Error(`${cluster} is not healthy: ${JSON.stringify(list)}`);
        await sleep(200);
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
