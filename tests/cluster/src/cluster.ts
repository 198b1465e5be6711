import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

/** The repository root. */
export const repoRoot = resolve(import.meta.dirname, "../../..");
const clusterScript = join(repoRoot, "infra/cluster/cluster.sh");
const imagesScript = join(repoRoot, "infra/images/build.sh");
const helmBinary = join(repoRoot, ".tools/bin/helm");
export const chartDir = join(repoRoot, "deploy/helm/polyrpc");

/** Where the cluster keeps its state (infra/cluster/cluster.sh). */
export const clusterState = process.env.POLYRPC_CLUSTER_STATE ?? "/var/lib/polyrpc-cluster";
export const kubeconfig = join(clusterState, "admin.kubeconfig");
/** The bridge the pods hang off, and this machine's address on it (what pods reach the host at). */
export const podNetwork = { cidr: "10.244.0.0/16", hostAddress: "10.244.0.1" };

/** The image archives infra/images/build.sh exports (`all`), by image name. */
export function imageArchive(image: string): string {
  const cache = join(process.env.POLYRPC_CACHE_DIR ?? join(homedir(), ".cache/polyrpc"), "images/archives");
  return join(cache, `${image.replace(/^docker\.io\//, "").replace(/[/:@]/g, "_")}.tar`);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell) and returns what it printed. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): CommandResult {
  const result = spawnSync(command, args, {
    cwd: repoRoot,
    input: options.input,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: options.timeoutMs ?? 10 * 60_000,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      HELM_CACHE_HOME: "/tmp/polyrpc-helm/cache",
      HELM_CONFIG_HOME: "/tmp/polyrpc-helm/config",
      HELM_DATA_HOME: "/tmp/polyrpc-helm/data",
      ...options.env,
    },
  });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command and throws, with what it printed, unless it exits 0. */
export function mustRun(command: string, args: readonly string[], options: Parameters<typeof runCommand>[2] = {}) {
  const result = runCommand(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${result.code}:\n${result.stdout.slice(-6000)}\n${result.stderr.slice(-6000)}`,
    );
  }
  return result.stdout;
}

export const clusterSh = (...args: string[]) => mustRun("bash", [clusterScript, ...args], { timeoutMs: 40 * 60_000 });
export const imagesSh = (args: string[], env: Record<string, string> = {}) =>
  mustRun("bash", [imagesScript, ...args], { timeoutMs: 60 * 60_000, env });

/** buildah on infra/images' own storage (its `env` says where). */
export const buildah = (args: string[]) =>
  mustRun("bash", ["-c", `eval "$(bash ${imagesScript} env)" && buildah "$@"`, "buildah", ...args]);

/** kubectl, as built by infra/cluster (cluster.sh puts it in the state's bin folder). */
export function kubectl(...args: string[]): string {
  return mustRun(join(clusterState, "bin/kubectl"), args);
}
export const kubectlResult = (...args: string[]) => runCommand(join(clusterState, "bin/kubectl"), args);

/** A JSON object from `kubectl get ... -o json`. */
export function kubectlJson<T = Record<string, unknown>>(...args: string[]): T {
  return JSON.parse(kubectl(...args, "-o", "json")) as T;
}

export function helm(...args: string[]): string {
  if (!existsSync(helmBinary)) throw new Error(`${helmBinary} is missing: run bash scripts/setup.sh`);
  return mustRun(helmBinary, args);
}
export const helmResult = (...args: string[]) => runCommand(helmBinary, args);

/** The manifests the chart renders for `values` (files), as objects. */
export function renderChart(release: string, namespace: string, valueFiles: readonly string[]) {
  const version = JSON.parse(kubectl("version", "-o", "json")) as { serverVersion: { gitVersion: string } };
  const out = helm(
    "template",
    release,
    chartDir,
    "--namespace",
    namespace,
    "--kube-version",
    version.serverVersion.gitVersion,
    ...valueFiles.flatMap((f) => ["-f", f]),
  );
  return parseAllDocuments(out)
    .map((d) => d.toJS() as { kind: string; metadata: { name: string } } | null)
    .filter((m) => m !== null);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined, failing after `timeoutMs` with `what`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 180_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(1000);
  }
}

/** `kubectl port-forward` to `resource` (svc/x or pod/x) port `port`; resolves with the local port. */
export async function portForward(namespace: string, resource: string, port: number) {
  const child: ChildProcess = spawn(
    join(clusterState, "bin/kubectl"),
    ["--namespace", namespace, "port-forward", "--address", "127.0.0.1", resource, `:${port}`],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const localPort = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`port-forward ${resource}: no port in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`port-forward ${resource} exited ${code}:\n${output}`)));
  });
  return { port: localPort, close: () => child.kill("SIGTERM") };
}

interface PodStatus {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: Array<{ name: string; image: string; readinessProbe?: { grpc?: unknown } }> };
  status: {
    phase: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; ready: boolean; restartCount: number; image: string }>;
  };
}

/** Every pod of a release as the API server has it, terminating ones and the test pod included. */
function allReleasePods(namespace: string, release: string): PodStatus[] {
  const selector = `app.kubernetes.io/instance=${release}`;
  return kubectlJson<{ items: PodStatus[] }>("--namespace", namespace, "get", "pods", "-l", selector).items;
}

/** The app pods of a release that are not terminating, with their status. */
export function releasePods(namespace: string, release: string): PodStatus[] {
  return allReleasePods(namespace, release).filter(
    (p) => !p.metadata.deletionTimestamp && p.metadata.labels?.["app.kubernetes.io/component"] !== "test",
  );
}

/** Until no pod of the release is terminating any more (old replicas drained and gone). */
export function waitForNoTerminatingPods(namespace: string, release: string) {
  return waitFor(`the old pods of ${release} to be gone`, () =>
    allReleasePods(namespace, release).some((p) => p.metadata.deletionTimestamp) ? undefined : true,
  );
}

export const isReady = (pod: PodStatus) =>
  pod.status.phase === "Running" && !!pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");

/** The component (user-service, chat) of a pod. */
export const componentOf = (pod: PodStatus) => pod.metadata.labels?.["app.kubernetes.io/component"] ?? "";
