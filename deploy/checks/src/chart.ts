import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot, run, tool, type RunResult } from "./tools.js";

/** The chart under test. */
export const chartDir = join(repoRoot, "deploy/helm/polyrpc");

/** A Kubernetes object as rendered. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A set of values the chart must render cleanly with: the defaults, and each ci/*.yaml on top. */
export interface ValueSet {
  name: string;
  /** `--values` files, relative to the chart. */
  files: string[];
}

/** The defaults plus every ci/*.yaml (chart-testing's convention). */
export function valueSets(): ValueSet[] {
  const ci = readdirSync(join(chartDir, "ci"))
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  return ci.map((file) => ({ name: basename(file, ".yaml"), files: [join("ci", file)] }));
}

/** The release name and namespace every render uses. */
export const RELEASE = "polyrpc";
export const NAMESPACE = "polyrpc";
/** The Kubernetes version helm renders for: the oldest the chart supports (Chart.yaml kubeVersion). */
export const KUBE_VERSION = "1.29.0";

function valuesArgs(files: string[], set: string[]): string[] {
  return [...files.flatMap((f) => ["--values", join(chartDir, f)]), ...set.flatMap((s) => ["--set", s])];
}

/** `helm template` with these values (and `--set` overrides); the raw result. */
export function helmTemplate(files: string[], set: string[] = []): RunResult {
  return run(tool("helm"), [
    "template",
    RELEASE,
    chartDir,
    "--namespace",
    NAMESPACE,
    "--kube-version",
    KUBE_VERSION,
    ...valuesArgs(files, set),
  ]);
}

/** `helm lint --strict` with these values. */
export function helmLint(files: string[], set: string[] = []): RunResult {
  return run(tool("helm"), [
    "lint",
    "--strict",
    chartDir,
    "--namespace",
    NAMESPACE,
    "--kube-version",
    KUBE_VERSION,
    ...valuesArgs(files, set),
  ]);
}

/** Renders and parses; throws with helm's own message when it fails. */
export function render(files: string[], set: string[] = []): { yaml: string; manifests: Manifest[] } {
  const result = helmTemplate(files, set);
  if (result.code !== 0) throw new Error(`helm template failed (${result.code}): ${result.stderr}`);
  const manifests = parseAllDocuments(result.stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
  return { yaml: result.stdout, manifests };
}

/** Custom resources: their schemas come from their CRDs, not from Kubernetes'. */
export const CUSTOM_RESOURCE_GROUPS = ["cert-manager.io", "monitoring.coreos.com"];

export function isCustomResource(manifest: Manifest): boolean {
  return CUSTOM_RESOURCE_GROUPS.includes(manifest.apiVersion.split("/")[0]!);
}
