import { credentials } from "@grpc/grpc-js";
import {
  connectChatService,
  connectUserService,
  mintDevelopmentToken,
  resumingSubscription,
  type ChatServiceClient,
  type UserServiceClient,
} from "@polyrpc/client";
import { kubectlJson, sleep } from "./cluster.js";
import { AUTH, HS256_SECRET, type TestRelease } from "./release.js";

/** An admin token the release accepts (HS256 from the release's Secret). */
export function adminToken(): Promise<string> {
  return mintDevelopmentToken({
    secret: HS256_SECRET,
    subject: "cluster-test",
    roles: ["admin", "user"],
    issuer: AUTH.issuer,
    audience: AUTH.audience,
    ttlSeconds: 3600,
  });
}

/** The Service's ClusterIP and its full DNS name (what the certificate names). */
export function serviceAddress(release: TestRelease, service: string): { target: string; name: string } {
  const svc = kubectlJson<{ spec: { clusterIP: string; ports: Array<{ port: number; name?: string }> } }>(
    "--namespace",
    release.namespace,
    "get",
    "service",
    service,
  );
  const port = svc.spec.ports.find((p) => p.name === "grpc" || p.name === "https")?.port ?? svc.spec.ports[0]!.port;
  return { target: `${svc.spec.clusterIP}:${port}`, name: `${service}.${release.namespace}.svc.cluster.local` };
}

/**
 * Channel options for a TLS channel to `target` whose certificate names `serverName`: the way a
 * client outside the cluster reaches a Service through kube-proxy (its ClusterIP) with the name
 * the certificate carries.
 */
function tlsTo(release: TestRelease, serverName: string, token: string) {
  return {
    credentials: credentials.createSsl(release.certificates.read(release.certificates.caCert)),
    channelOptions: { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName },
    token,
  };
}

export async function userClient(release: TestRelease, service: string): Promise<UserServiceClient> {
  const { target, name } = serviceAddress(release, service);
  return connectUserService(target, tlsTo(release, name, await adminToken()));
}

export async function chatClient(release: TestRelease, service: string): Promise<ChatServiceClient> {
  const { target, name } = serviceAddress(release, service);
  return connectChatService(target, tlsTo(release, name, await adminToken()));
}

/** What a stretch of traffic saw while something happened to the release. */
export interface TrafficReport {
  reads: number;
  failedReads: string[];
  sent: bigint[];
  failedSends: string[];
  received: bigint[];
  resumes: number;
}

/**
 * Keeps a client calling GetUser (every 20 ms), a sender sending to `room` (every 100 ms) and a
 * resuming subscriber reading it, on their own channels through the Services' ClusterIPs, while
 * `during` runs; then waits until the subscriber has every acknowledged message (or 30 s).
 */
export async function trafficDuring(
  release: TestRelease,
  services: { users: string; chat: string },
  userId: string,
  room: string,
  during: () => Promise<void>,
): Promise<TrafficReport> {
  const reader = await userClient(release, services.users);
  const sender = await chatClient(release, services.chat);
  const listener = await chatClient(release, services.chat);
  const report: TrafficReport = { reads: 0, failedReads: [], sent: [], failedSends: [], received: [], resumes: 0 };
  const stop = new AbortController();
  const start = (await sender.methods.getHistory({ room, limit: 1 })).lastSequence;

  const subscriber = (async () => {
    for await (const response of resumingSubscription(listener, {
      room,
      afterSequence: start,
      signal: stop.signal,
      backoff: { initialMs: 100, maxMs: 1000, maxAttempts: 50 },
      onResume: () => report.resumes++,
    })) {
      if (response.event.case === "message") report.received.push(response.event.value.sequence);
    }
  })();
  let running = true;
  const reads = (async () => {
    while (running) {
      try {
        await reader.methods.getUser({ id: userId }, { timeoutMs: 5000 });
        report.reads++;
      } catch (err) {
        report.failedReads.push(String(err));
      }
      await sleep(20);
    }
  })();
  const sends = (async () => {
    let i = 0;
    while (running) {
      try {
        const { message } = await sender.methods.sendMessage(
          { room, userId, text: `traffic ${i++}` },
          { timeoutMs: 5000 },
        );
        report.sent.push(message!.sequence);
      } catch (err) {
        report.failedSends.push(String(err));
      }
      await sleep(100);
    }
  })();
  try {
    await sleep(2000);
    await during();
    await sleep(2000);
  } finally {
    running = false;
    await Promise.all([reads, sends]);
    const last = report.sent.at(-1) ?? start;
    const deadline = Date.now() + 30_000;
    while ((report.received.at(-1) ?? start) < last && Date.now() < deadline) await sleep(200);
    stop.abort();
    await subscriber.catch(() => undefined);
    for (const client of [reader, sender, listener]) client.close();
  }
  return report;
}
