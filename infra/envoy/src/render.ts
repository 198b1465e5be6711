import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import { chartDir, toolPath } from "./tools.js";

const run = promisify(execFile);

/** The apps that have an Envoy sidecar. */
export type EnvoyApp = "user-service" | "chat";

/** The files of one app's Envoy ConfigMap (`envoy.yaml`, `sds-server-cert.yaml`, `sds-ca.yaml`). */
export type EnvoyFiles = Record<string, string>;

/** What to render the chart with. */
export interface RenderOptions {
  /** Values files, in order (`helm template -f`). */
  valuesFiles?: readonly string[];
  /** More values, applied last (written to a temporary values file). */
  values?: Record<string, unknown>;
  /** The release name; the ConfigMaps are `<fullname>-<app>-envoy`. */
  releaseName?: string;
}

/**
 * Renders the chart's `templates/envoy-configmap.yaml` with helm and returns each app's ConfigMap
 * data, keyed by app.
 */
export async function renderEnvoyConfigMaps(options: RenderOptions = {}): Promise<Record<EnvoyApp, EnvoyFiles>> {
  const scratch = mkdtempSync(join(tmpdir(), "polyrpc-envoy-values-"));
  try {
    // helm built by `go install` assumes Kubernetes v1.20; the chart needs 1.29 or newer.
    const args = ["template", options.releaseName ?? "polyrpc", chartDir, "--kube-version", "1.31.0"];
    args.push("--show-only", "templates/envoy-configmap.yaml");
    for (const file of options.valuesFiles ?? []) args.push("-f", file);
    if (options.values) {
      const overrides = join(scratch, "overrides.yaml");
      writeFileSync(overrides, stringify(options.values));
      args.push("-f", overrides);
    }
    const { stdout } = await run(toolPath("helm"), args, { maxBuffer: 16 * 1024 * 1024 });
    const found: Partial<Record<EnvoyApp, EnvoyFiles>> = {};
    for (const doc of parseAllDocuments(stdout)) {
      const manifest = doc.toJS() as { kind?: string; metadata?: { name?: string }; data?: EnvoyFiles } | null;
      if (manifest?.kind !== "ConfigMap") continue;
      const app = (["user-service", "chat"] as const).find((a) => manifest.metadata?.name?.endsWith(`-${a}-envoy`));
      if (app && manifest.data) found[app] = manifest.data;
    }
    for (const app of ["user-service", "chat"] as const) {
      if (!found[app]?.["envoy.yaml"]) throw new Error(`the chart rendered no ${app} Envoy ConfigMap:\n${stdout}`);
    }
    return found as Record<EnvoyApp, EnvoyFiles>;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Writes a ConfigMap's files into `dir` (as Kubernetes mounts them); returns the path of envoy.yaml. */
export function writeEnvoyFiles(dir: string, files: EnvoyFiles): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return join(dir, "envoy.yaml");
}
