import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { chatV1 } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  componentOf,
  helm,
  helmResult,
  kubectl,
  kubectlJson,
  kubectlResult,
  mustRun,
  portForward,
  repoRoot,
  waitFor,
} from "../src/cluster.js";
import { baseValues, IMAGE_TAGS, installRelease, type TestRelease } from "../src/release.js";
import { adminToken } from "../src/traffic.js";

const NAMESPACE = "polyrpc-sqlite";
const RELEASE = "polyrpc";
const cli = join(repoRoot, "apps/client/dist/cli.js");

interface PodSpec {
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
    containers: Array<{
      name: string;
      image: string;
      readinessProbe?: { grpc?: { port: number } };
      livenessProbe?: { grpc?: { port: number } };
      securityContext?: {
        readOnlyRootFilesystem?: boolean;
        runAsNonRoot?: boolean;
        allowPrivilegeEscalation?: boolean;
      };
    }>;
  };
  status: { containerStatuses: Array<{ name: string; ready: boolean }> };
}

describe("the chart on SQLite (one replica each), on a real cluster", () => {
  let release: TestRelease;

  beforeAll(async () => {
    // The cluster's default StorageClass (infra/cluster's provisioner) gives the SQLite claims their volumes.
    release = await installRelease(RELEASE, NAMESPACE, baseValues(IMAGE_TAGS[0]));
  });
  afterAll(() => {
    helmResult("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait");
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=120s");
  });

  it("runs every pod Running and Ready through the kubelet's gRPC probes, non-root, read-only", async () => {
    await release.waitReady({ "user-service": 1, chat: 1 });
    const pods = kubectlJson<{ items: PodSpec[] }>(
      "--namespace",
      NAMESPACE,
      "get",
      "pods",
      "-l",
      `app.kubernetes.io/instance=${RELEASE}`,
    ).items;
    const apps = pods.filter((p) =>
      ["user-service", "chat"].includes(p.metadata.labels["app.kubernetes.io/component"]!),
    );
    expect(apps).toHaveLength(2);
    for (const pod of apps) {
      const app = pod.spec.containers.find((c) => c.name === componentOf(pod as never))!;
      expect(app.image).toBe(`polyrpc/${componentOf(pod as never)}:${IMAGE_TAGS[0]}`);
      expect(app.readinessProbe?.grpc?.port).toBeGreaterThan(0);
      expect(app.livenessProbe?.grpc?.port).toBeGreaterThan(0);
      for (const container of pod.spec.containers) {
        expect(container.securityContext?.readOnlyRootFilesystem, container.name).toBe(true);
        expect(container.securityContext?.allowPrivilegeEscalation, container.name).toBe(false);
      }
      expect(pod.status.containerStatuses.every((c) => c.ready)).toBe(true);
    }
    // The namespace enforces "restricted": a pod that asks for root is refused by the API server.
    const refused = kubectlResult(
      ...[
        "--namespace",
        NAMESPACE,
        "run",
        "root-pod",
        "--image",
        `polyrpc/client:${IMAGE_TAGS[0]}`,
        "--image-pull-policy",
        "Never",
        "--restart",
        "Never",
        "--overrides",
        JSON.stringify({ spec: { securityContext: { runAsUser: 0 } } }),
      ],
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/violates PodSecurity "restricted/);
  });

  it("passes helm test (the CLI in a pod: health, a user created and read, a chat message)", async () => {
    await release.waitForChatUpstreams(1);
    expect(release.helmTest()).toMatch(/Phase:\s+Succeeded/);
  });

  it("answers the four call patterns over TLS through the user service's Envoy", async () => {
    const forward = await portForward(NAMESPACE, `svc/${RELEASE}-user-service`, 8443);
    try {
      const token = await adminToken();
      const out = mustRun(process.execPath, [
        cli,
        "--target",
        `localhost:${forward.port}`,
        "--ca",
        release.certificates.caCert,
        "--token",
        token,
        "--json",
        "demo",
      ]);
      const steps = out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { pattern?: string; ok?: boolean });
      const patterns = new Set(steps.filter((s) => s.ok !== false).map((s) => s.pattern));
      for (const pattern of ["unary", "server_streaming", "client_streaming", "bidi_streaming"]) {
        expect(patterns, out).toContain(pattern);
      }
      expect(
        steps.some((s) => s.ok === false),
        out,
      ).toBe(false);
    } finally {
      forward.close();
    }
  });

  it.each([
    [
      "gRPC-Web",
      (baseUrl: string, ca: Buffer) => createGrpcWebTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca } }),
    ],
    [
      "Connect",
      (baseUrl: string, ca: Buffer) => createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca } }),
    ],
  ])("serves the chat over %s through its Envoy", async (_protocol, transport) => {
    const [users, chat] = await Promise.all([
      portForward(NAMESPACE, `svc/${RELEASE}-user-service`, 8443),
      portForward(NAMESPACE, `svc/${RELEASE}-chat`, 8443),
    ]);
    try {
      const token = await adminToken();
      const name = `web-${_protocol.toLowerCase().replace(/[^a-z]/g, "")}-${Date.now()}`;
      const created = JSON.parse(
        mustRun(process.execPath, [
          cli,
          "--target",
          `localhost:${users.port}`,
          "--ca",
          release.certificates.caCert,
          "--token",
          token,
          "--json",
          "create",
          "--username",
          name,
          "--email",
          `${name}@example.com`,
          "--password",
          "cluster-password",
        ]),
      ) as { id: string };
      const client = createClient(
        chatV1.ChatService,
        transport(`https://localhost:${chat.port}`, release.certificates.read(release.certificates.caCert)),
      );
      const headers = { authorization: `Bearer ${token}` };
      const room = `room-${name}`;
      const sent = await client.sendMessage({ room, userId: created.id, text: `over ${_protocol}` }, { headers });
      expect(sent.message?.sequence).toBe(1n);
      const history = await client.getHistory({ room }, { headers });
      expect(history.messages.map((m) => m.text)).toEqual([`over ${_protocol}`]);
      // Without a token the edge refuses the call.
      await expect(client.getHistory({ room })).rejects.toMatchObject({ code: Code.Unauthenticated });
    } finally {
      users.close();
      chat.close();
    }
  });

  it("upgrades, rolls back, and uninstalls leaving only the kept data volumes", async () => {
    release.upgrade({ logLevel: "debug" });
    const history = () =>
      JSON.parse(helm("history", RELEASE, "--namespace", NAMESPACE, "-o", "json")) as Array<{
        revision: number;
        status: string;
      }>;
    expect(history().at(-1)).toMatchObject({ revision: 2, status: "deployed" });
    helm("rollback", RELEASE, "1", "--namespace", NAMESPACE, "--wait", "--timeout", "5m");
    expect(history().at(-1)).toMatchObject({ revision: 3, status: "deployed" });
    await release.waitReady({ "user-service": 1, chat: 1 });
    const env = kubectlJson<{
      spec: {
        template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } };
      };
    }>("--namespace", NAMESPACE, "get", "deployment", `${RELEASE}-user-service`).spec.template.spec.containers.find(
      (c) => c.name === "user-service",
    )!.env;
    expect(env?.find((e) => e.name === "LOG_LEVEL")?.value).toBe("info");

    release.uninstall();
    // The pods go with their grace period; then only the SQLite claims are left, which carry
    // helm.sh/resource-policy: keep (the data outlives an uninstall).
    const kept = [`persistentvolumeclaim/${RELEASE}-chat-data`, `persistentvolumeclaim/${RELEASE}-user-service-data`];
    const left = await waitFor("only the kept claims to be left", () => {
      const names = kubectl(
        "--namespace",
        NAMESPACE,
        "get",
        "all,configmap,secret,serviceaccount,networkpolicy,poddisruptionbudget,horizontalpodautoscaler,persistentvolumeclaim",
        "-l",
        `app.kubernetes.io/instance=${RELEASE}`,
        "-o",
        "name",
      )
        .trim()
        .split("\n")
        .filter(Boolean)
        .sort();
      return names.length === kept.length ? names : undefined;
    });
    expect(left).toEqual(kept);
    kubectl("--namespace", NAMESPACE, "delete", "persistentvolumeclaim", "--all", "--wait=true");
  });
});
