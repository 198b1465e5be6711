import { existsSync } from "node:fs";
import { join } from "node:path";

/** The repository's root directory. */
export const repoRoot = join(import.meta.dirname, "../../..");

/** The Helm chart whose Envoy configuration this package renders. */
export const chartDir = join(repoRoot, "deploy/helm/polyrpc");

/** The values for a local run: both sidecars on 127.0.0.1 in front of local replicas. */
export const localValuesFile = join(repoRoot, "infra/envoy/local-values.yaml");

/** A tool that scripts/setup.d/10-envoy.sh installs into .tools/bin; fails naming the setup step. */
export function toolPath(name: "envoy" | "helm"): string {
  const path = join(repoRoot, ".tools/bin", name);
  if (!existsSync(path))
    throw new Error(`${path} is missing: run bash scripts/setup.sh (step scripts/setup.d/10-envoy.sh)`);
  return path;
}
