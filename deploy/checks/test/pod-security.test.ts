import { describe, expect, it } from "vitest";
import { podSpecOf, restrictedViolations } from "../src/pod-security.js";
import { render, valueSets, type Manifest } from "../src/chart.js";

// D3: Pod Security "restricted" for every container of every rendered pod, the Envoy sidecar and
// the test pod included, plus a read-only root filesystem everywhere.
describe.each(valueSets())("Pod Security restricted with $name", ({ files }) => {
  const { manifests } = render(files);
  const workloads = manifests.filter((m) => podSpecOf(m) !== undefined);

  it("renders the two app Deployments (app and Envoy containers) and the test pod", () => {
    const containers = workloads.flatMap((m) =>
      (podSpecOf(m)!.containers ?? []).map((c) => `${m.kind}/${m.metadata.name}/${c.name}`),
    );
    expect(containers).toEqual([
      "Deployment/polyrpc-user-service/user-service",
      "Deployment/polyrpc-user-service/envoy",
      "Deployment/polyrpc-chat/chat",
      "Deployment/polyrpc-chat/envoy",
      "Pod/polyrpc-test/polyrpc-cli",
    ]);
  });

  it("meets restricted in every container", () => {
    expect(workloads.flatMap(restrictedViolations)).toEqual([]);
  });
});

describe("the restricted check", () => {
  const pod = (container: Record<string, unknown>, extra: Record<string, unknown> = {}): Manifest => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p" },
    spec: { containers: [{ name: "c", ...container }], ...extra },
  });
  const compliant = {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };

  it("passes a compliant container", () => {
    expect(restrictedViolations(pod(compliant))).toEqual([]);
  });

  it("names each broken control", () => {
    const findings = restrictedViolations(
      pod(
        { securityContext: { runAsUser: 0, capabilities: { add: ["NET_ADMIN"] } }, ports: [{ hostPort: 80 }] },
        { hostNetwork: true, volumes: [{ name: "h", hostPath: { path: "/" } }] },
      ),
    );
    expect(findings).toEqual([
      "Pod/p: hostNetwork",
      "Pod/p: volume h is of type hostPath",
      "Pod/p container c: allowPrivilegeEscalation is not false",
      "Pod/p container c: runAsNonRoot is not true",
      "Pod/p container c: runAsUser 0",
      "Pod/p container c: seccompProfile is unset, not RuntimeDefault or Localhost",
      "Pod/p container c: capabilities do not drop ALL",
      "Pod/p container c: adds capability NET_ADMIN",
      "Pod/p container c: hostPort 80",
      "Pod/p container c: readOnlyRootFilesystem is not true",
    ]);
  });

  it("takes runAsNonRoot, the user and seccomp from the pod when the container leaves them out", () => {
    const { runAsNonRoot, runAsUser, seccompProfile, ...rest } = compliant.securityContext;
    const manifest = pod({ securityContext: rest }, { securityContext: { runAsNonRoot, runAsUser, seccompProfile } });
    expect(restrictedViolations(manifest)).toEqual([]);
  });
});
