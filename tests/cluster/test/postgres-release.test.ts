import { startLocalPostgres, type TestPostgres } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  componentOf,
  helm,
  helmResult,
  kubectl,
  kubectlJson,
  podNetwork,
  portForward,
  releasePods,
  waitFor,
  waitForNoTerminatingPods,
} from "../src/cluster.js";
import { baseValues, deepMerge, IMAGE_TAGS, installRelease, type TestRelease } from "../src/release.js";
import { chatClient, trafficDuring, userClient, type TrafficReport } from "../src/traffic.js";

const NAMESPACE = "polyrpc-postgres";
const RELEASE = "polyrpc";
const SERVICES = { users: `${RELEASE}-user-service`, chat: `${RELEASE}-chat` };

/** Every acknowledged message reached the subscriber once, in order, with no gap. */
function expectNothingLost(report: TrafficReport) {
  expect(report.failedReads, "GetUser calls that failed").toEqual([]);
  expect(report.reads).toBeGreaterThan(50);
  expect(report.sent.length).toBeGreaterThan(10);
  const received = report.received;
  for (let i = 1; i < received.length; i++) expect(received[i]).toBe(received[i - 1]! + 1n);
  for (const sequence of report.sent) expect(received).toContain(sequence);
}

interface ClustersJson {
  cluster_statuses: Array<{
    name: string;
    host_statuses?: Array<{
      address: { socket_address: { address: string } };
      stats?: Array<{ name: string; value?: string }>;
    }>;
  }>;
}

describe("the chart on PostgreSQL with two replicas of each app, on a real cluster", () => {
  let postgres: TestPostgres;
  let release: TestRelease;
  let userId: string;

  beforeAll(async () => {
    // PostgreSQL on this machine, on the pods' bridge (the address pods reach the host at).
    postgres = await startLocalPostgres({
      durable: true,
      listen: { addresses: [podNetwork.hostAddress], clients: [podNetwork.cidr] },
    });
    const url = (db: string) => `postgres://postgres@${podNetwork.hostAddress}:${postgres.port}/${db}`;
    await postgres.createDatabase("users");
    await postgres.createDatabase("chat");
    kubectl("create", "namespace", NAMESPACE);
    kubectl(
      "label",
      "namespace",
      NAMESPACE,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/enforce-version=latest",
    );
    kubectl(
      "--namespace",
      NAMESPACE,
      "create",
      "secret",
      "generic",
      "polyrpc-database",
      `--from-literal=user-service-database-url=${url("users")}`,
      `--from-literal=chat-database-url=${url("chat")}`,
    );
    release = await installRelease(
      RELEASE,
      NAMESPACE,
      deepMerge(baseValues(IMAGE_TAGS[0]), {
        database: { existingSecret: "polyrpc-database", port: postgres.port },
        // The NetworkPolicies (enforced here) let the apps reach PostgreSQL on this machine only.
        networkPolicy: { database: [{ ipBlock: { cidr: `${podNetwork.hostAddress}/32` } }] },
        userService: { autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 3 } },
        chat: { replicaCount: 2 },
      }),
    );
    await release.waitReady({ "user-service": 2, chat: 2 });
    await release.waitForChatUpstreams(2);
    const users = await userClient(release, SERVICES.users);
    try {
      userId = (
        await users.methods.createUser({ username: "traffic", email: "traffic@example.com", password: "password1" })
      ).id;
    } finally {
      users.close();
    }
  });
  afterAll(async () => {
    helmResult("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait");
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=120s");
    await postgres?.destroy();
  });

  it("has the HPA, PDBs and NetworkPolicies accepted by the API server, and passes helm test", () => {
    const kinds = (kind: string) =>
      kubectlJson<{ items: Array<{ metadata: { name: string } }> }>("--namespace", NAMESPACE, "get", kind).items.map(
        (i) => i.metadata.name,
      );
    expect(kinds("horizontalpodautoscaler")).toEqual([`${RELEASE}-user-service`]);
    expect(kinds("poddisruptionbudget").sort()).toEqual([`${RELEASE}-chat`, `${RELEASE}-user-service`]);
    expect(kinds("networkpolicy").length).toBeGreaterThanOrEqual(2);
    expect(release.helmTest()).toMatch(/Phase:\s+Succeeded/);
  });

  it("balances the chat's calls to the user service per RPC, as its Envoy's counts show", async () => {
    const users = await userClient(release, SERVICES.users);
    const chat = await chatClient(release, SERVICES.chat);
    try {
      // Each new user is one lookup by the chat (GetUser through its sidecar's outbound listener).
      for (let i = 0; i < 24; i++) {
        const user = await users.methods.createUser({
          username: `lb-${i}`,
          email: `lb-${i}@example.com`,
          password: "password1",
        });
        await chat.methods.sendMessage({ room: "balancing", userId: user.id, text: `hello ${i}` });
      }
    } finally {
      users.close();
      chat.close();
    }
    const userPods = releasePods(NAMESPACE, RELEASE).filter((p) => componentOf(p) === "user-service");
    const podIps = new Map(
      kubectlJson<{ items: Array<{ metadata: { name: string }; status: { podIP: string } }> }>(
        "--namespace",
        NAMESPACE,
        "get",
        "pods",
      ).items.map((p) => [p.metadata.name, p.status.podIP]),
    );
    const perHost = new Map<string, number>();
    for (const pod of releasePods(NAMESPACE, RELEASE).filter((p) => componentOf(p) === "chat")) {
      const admin = await portForward(NAMESPACE, `pod/${pod.metadata.name}`, 9901);
      try {
        const clusters = (await (
          await fetch(`http://127.0.0.1:${admin.port}/clusters?format=json`)
        ).json()) as ClustersJson;
        for (const host of clusters.cluster_statuses.find((c) => c.name === "user_service")?.host_statuses ?? []) {
          const ip = host.address.socket_address.address;
          const requests = Number(host.stats?.find((s) => s.name === "rq_total")?.value ?? 0);
          perHost.set(ip, (perHost.get(ip) ?? 0) + requests);
        }
      } finally {
        admin.close();
      }
    }
    const counts = userPods.map((p) => perHost.get(podIps.get(p.metadata.name)!) ?? 0);
    console.log(`GetUser calls from the chat's Envoys per user-service pod: ${counts.join(", ")}`);
    expect(counts).toHaveLength(2);
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(4);
  });

  it("upgrades to a new image tag under traffic with no failed read and nothing lost or repeated", async () => {
    const report = await trafficDuring(release, SERVICES, userId, "upgrade", async () => {
      release.upgrade({
        userService: { image: { tag: IMAGE_TAGS[1] } },
        chat: { image: { tag: IMAGE_TAGS[1] } },
      });
      // Traffic goes on until the old pods have drained and gone, not just until the new are ready.
      await waitForNoTerminatingPods(NAMESPACE, RELEASE);
    });
    console.log(
      `upgrade: ${report.reads} reads, ${report.sent.length} messages sent (${report.failedSends.length} sends refused), ` +
        `${report.received.length} received, ${report.resumes} resumes`,
    );
    expectNothingLost(report);
    const pods = await release.waitReady({ "user-service": 2, chat: 2 });
    for (const pod of pods) {
      const app = pod.spec.containers.find((c) => c.name === componentOf(pod))!;
      expect(app.image).toBe(`polyrpc/${componentOf(pod)}:${IMAGE_TAGS[1]}`);
    }
  });

  it("loses nothing when a replica of each app is deleted under traffic", async () => {
    const report = await trafficDuring(release, SERVICES, userId, "deletion", async () => {
      for (const app of ["user-service", "chat"]) {
        const pod = releasePods(NAMESPACE, RELEASE).find((p) => componentOf(p) === app)!;
        kubectl("--namespace", NAMESPACE, "delete", "pod", pod.metadata.name, "--wait=true", "--timeout=120s");
      }
      await release.waitReady({ "user-service": 2, chat: 2 });
      await waitForNoTerminatingPods(NAMESPACE, RELEASE);
    });
    console.log(
      `pod deletion: ${report.reads} reads, ${report.sent.length} sent (${report.failedSends.length} refused), ` +
        `${report.received.length} received, ${report.resumes} resumes`,
    );
    expectNothingLost(report);
  });

  it("rolls back to the first revision's images", async () => {
    helm("rollback", RELEASE, "1", "--namespace", NAMESPACE, "--wait", "--timeout", "5m");
    const pods = await waitFor("the first revision's images", () => {
      const current = releasePods(NAMESPACE, RELEASE).filter((p) => ["user-service", "chat"].includes(componentOf(p)));
      return current.length === 4 &&
        current.every((p) => p.spec.containers.some((c) => c.image.endsWith(`:${IMAGE_TAGS[0]}`)))
        ? current
        : undefined;
    });
    expect(pods).toHaveLength(4);
    // The data is the database's: the users created before the upgrade are still there.
    const users = await userClient(release, SERVICES.users);
    try {
      expect((await users.methods.getUser({ id: userId })).username).toBe("traffic");
    } finally {
      users.close();
    }
  });
});
