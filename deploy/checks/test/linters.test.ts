import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { render, valueSets } from "../src/chart.js";
import { withScratchFile } from "../src/scratch.js";
import { run, tool } from "../src/tools.js";

const kubeLinterConfig = join(import.meta.dirname, "../kube-linter.yaml");
const kubeScoreConfig = join(import.meta.dirname, "../kube-score.yaml");

/** kube-score's documented exceptions: each ignored test with its reason. */
const kubeScoreIgnored = (
  parse(readFileSync(kubeScoreConfig, "utf8")) as { ignoredTests: { test: string; reason: string }[] }
).ignoredTests;

interface KubeLinterReport {
  Check: string;
  Object: { K8sObject: { Name: string; GroupVersionKind: { Kind: string } } };
  Diagnostic: { Message: string };
}

function kubeLinter(yamlText: string) {
  return withScratchFile("manifests.yaml", yamlText, (path) =>
    run(tool("kube-linter"), ["lint", "--config", kubeLinterConfig, "--format", "json", path]),
  );
}

/** kube-score's findings at WARNING or CRITICAL, as `[GRADE] name[/namespace] apiVersion/Kind: message` lines. */
function kubeScore(yamlText: string) {
  return withScratchFile("manifests.yaml", yamlText, (path) =>
    run(tool("kube-score"), [
      "score",
      "--output-format",
      "ci",
      // Kubernetes 1.29 is the oldest the chart supports.
      "--kubernetes-version",
      "v1.29",
      ...kubeScoreIgnored.flatMap(({ test }) => ["--ignore-test", test]),
      path,
    ]),
  );
}

const findingsOf = (ciOutput: string) =>
  ciOutput.split("\n").filter((line) => line.startsWith("[CRITICAL]") || line.startsWith("[WARNING]"));

// D3: kube-linter and kube-score find nothing but the documented exceptions.
describe.each(valueSets())("linters on $name", ({ files }) => {
  const { yaml } = render(files);

  it("kube-linter reports nothing", () => {
    const result = kubeLinter(yaml);
    const output = JSON.parse(result.stdout) as { Reports: KubeLinterReport[] | null };
    const findings = (output.Reports ?? []).map(
      (r) =>
        `${r.Check}: ${r.Object.K8sObject.GroupVersionKind.Kind}/${r.Object.K8sObject.Name}: ${r.Diagnostic.Message}`,
    );
    expect(findings).toEqual([]);
    expect(result.code).toBe(0);
  });

  it("kube-score grades nothing WARNING or CRITICAL", () => {
    const result = kubeScore(yaml);
    expect(result.stdout).toContain("[OK]");
    expect(findingsOf(result.stdout)).toEqual([]);
    expect(result.code).toBe(0);
  });
});

describe("the linters", () => {
  const bare = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bare
spec:
  selector:
    matchLabels: {app: bare}
  template:
    metadata:
      labels: {app: bare}
    spec:
      containers:
        - name: app
          image: example/app:latest
`;

  it("kube-linter flags a Deployment without limits, probes or a security context", () => {
    const result = kubeLinter(bare);
    const checks = new Set((JSON.parse(result.stdout) as { Reports: KubeLinterReport[] }).Reports.map((r) => r.Check));
    expect([...checks]).toEqual(expect.arrayContaining(["latest-tag", "no-read-only-root-fs", "run-as-non-root"]));
    expect(result.code).not.toBe(0);
  });

  it("kube-score grades the same Deployment CRITICAL", () => {
    const result = kubeScore(bare);
    expect(findingsOf(result.stdout).some((line) => line.startsWith("[CRITICAL] bare apps/v1/Deployment"))).toBe(true);
    expect(result.code).not.toBe(0);
  });

  it("documents a reason for every kube-score exception", () => {
    for (const { test, reason } of kubeScoreIgnored) expect(reason, test).toMatch(/\w{3,} \w{3,}/);
  });
});
