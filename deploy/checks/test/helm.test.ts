import { describe, expect, it } from "vitest";
import { helmLint, helmTemplate, render, valueSets } from "../src/chart.js";

// D1: helm lint --strict and helm template for every value set.
describe("the chart with each value set", () => {
  const sets = valueSets();

  it("has the value sets of ci/ (defaults, headless, cert-manager, external database)", () => {
    expect(sets.map((s) => s.name)).toEqual([
      "cert-manager-values",
      "default-values",
      "external-database-values",
      "headless-values",
    ]);
  });

  describe.each(sets)("$name", ({ files }) => {
    it("passes helm lint --strict", () => {
      const result = helmLint(files);
      expect(result.stderr + result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
      expect(result.code).toBe(0);
    });

    it("renders both apps, their Services, the Envoy configuration and the test pod", () => {
      const { manifests } = render(files);
      const names = (kind: string) => manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name);
      expect(names("Deployment")).toEqual(["polyrpc-user-service", "polyrpc-chat"]);
      expect(names("Service")).toEqual(
        expect.arrayContaining([
          "polyrpc-user-service",
          "polyrpc-user-service-headless",
          "polyrpc-chat",
          "polyrpc-chat-headless",
        ]),
      );
      expect(names("ConfigMap")).toEqual(expect.arrayContaining(["polyrpc-user-service-envoy", "polyrpc-chat-envoy"]));
      const testPod = manifests.find((m) => m.kind === "Pod");
      expect(testPod?.metadata.annotations?.["helm.sh/hook"]).toBe("test");
    });
  });
});

describe("render-time refusals", () => {
  it("refuses several replicas on SQLite with a message that says what to change", () => {
    const result = helmTemplate([], ["userService.replicaCount=2"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "userService.replicaCount is 2, but without database.existingSecret each app keeps SQLite on a ReadWriteOnce volume and must run exactly one replica",
    );
  });

  it("refuses autoscaling on SQLite", () => {
    const result = helmTemplate([], ["chat.autoscaling.enabled=true"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "chat.autoscaling.enabled needs several replicas, but without database.existingSecret",
    );
  });

  it("accepts several replicas and autoscaling with an external database", () => {
    const result = helmTemplate(
      [],
      ["database.existingSecret=db", "userService.replicaCount=3", "chat.autoscaling.enabled=true"],
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("refuses an unknown loadBalancing.mode through the values schema", () => {
    const result = helmTemplate([], ["loadBalancing.mode=random"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toMatch(/loadBalancing\/mode|loadBalancing\.mode/);
  });

  it("refuses values the schema does not know", () => {
    const result = helmTemplate([], ["userService.replicas=2"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("additional properties 'replicas' not allowed");
  });

  it("refuses a grace period shorter than the preStop sleep plus the shutdown timeout", () => {
    const result = helmTemplate([], ["shutdown.terminationGracePeriodSeconds=30"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "shutdown.terminationGracePeriodSeconds (30) must exceed shutdown.preStopSleepSeconds + shutdown.timeoutMs (35 s)",
    );
  });
});
