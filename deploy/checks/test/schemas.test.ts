import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { isCustomResource, render, valueSets } from "../src/chart.js";
import { withScratchFile } from "../src/scratch.js";
import { repoRoot, run, tool } from "../src/tools.js";

/** The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows. */
const KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"];

/** The CRDs scripts/setup.d/20-deploy-checks.sh fetches. */
const CRD_FILES = [
  ".tools/crds/cert-manager.io_certificates.yaml",
  ".tools/crds/monitoring.coreos.com_servicemonitors.yaml",
].map((f) => join(repoRoot, f));

/** kubernetes-validate --strict: one line per resource; exit status 0 only when every one passed. */
function validateBuiltIn(yamlText: string, version: string) {
  return withScratchFile("manifests.yaml", yamlText, (path) =>
    run(tool("kubernetes-validate"), ["--strict", "--kubernetes-version", version, path]),
  );
}

function validateCustom(yamlText: string) {
  return run(tool("python"), [join(import.meta.dirname, "../validate-custom-resources.py"), ...CRD_FILES], {
    input: yamlText,
  });
}

// D2: every rendered manifest against Kubernetes' strict JSON schemas (built-in kinds) or its
// CRD's schema made strict (custom resources).
describe.each(valueSets())("schemas of $name", ({ files }) => {
  const { manifests } = render(files);
  const builtIn = manifests.filter((m) => !isCustomResource(m));
  const custom = manifests.filter(isCustomResource);
  const asYaml = (list: typeof manifests) => list.map((m) => stringify(m)).join("---\n");

  it.each(KUBERNETES_VERSIONS)("validate strictly for Kubernetes %s", (version) => {
    const result = validateBuiltIn(asYaml(builtIn), version);
    const passed = result.stdout.split("\n").filter((line) => line.startsWith("INFO") && line.includes("passed"));
    expect(result.stdout + result.stderr).not.toMatch(/ERROR|WARN/);
    expect(passed).toHaveLength(builtIn.length);
    expect(result.code).toBe(0);
  });

  it("validate their custom resources against the CRDs", () => {
    const result = validateCustom(asYaml(custom));
    expect(result.stdout).not.toContain("error");
    expect(result.stdout.split("\n").filter((l) => l.startsWith("ok "))).toHaveLength(custom.length);
    expect(result.code).toBe(0);
  });
});

describe("the schema checks", () => {
  it("reject a field Kubernetes does not know", () => {
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { ports: [{ port: 1, colour: "red" }] },
    };
    const result = validateBuiltIn(stringify(service), "1.29.0");
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain("colour");
  });

  it("reject a field a CRD does not declare", () => {
    const certificate = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "c" },
      spec: { secretName: "s", issuerRef: { name: "i" }, dnsNames: ["a"], lifetime: "1h" },
    };
    const result = validateCustom(stringify(certificate));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      "error Certificate/c: spec: Additional properties are not allowed ('lifetime' was unexpected)",
    );
  });
});
