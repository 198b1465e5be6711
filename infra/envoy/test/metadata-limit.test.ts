/**
 * B6 through the chart's Envoy sidecars: a 64 KiB header or 200 headers are refused by Envoy
 * (never reaching the app), 8 KiB goes through, and so does anything else the sidecar lets
 * through: the apps run with the metadata limits the chart renders for them, which leave room
 * for what Envoy adds, so they never reset a call Envoy forwarded (Envoy would answer that
 * UNAVAILABLE, retry it and count it against the pod). packages/server-kit/test/metadata-limit.test.ts
 * holds the apps' own limits.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { credentials, Metadata, status as Status } from "@grpc/grpc-js";
import { chatV1, UserService } from "@polyrpc/proto";
import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import { createTestCertificates, type ServiceProcess, type TestCertificates } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  chartDir,
  localValuesFile,
  sidecarPorts,
  startLocalSidecars,
  toolPath,
  type EnvoyProcess,
  type LocalSidecars,
} from "../src/index.js";
import { killAll, startChatReplica, startUserServiceReplica } from "./processes.js";

const run = promisify(execFile);

/** The variables whose values the chart renders into an app's container: its metadata limits. */
const METADATA_VARIABLES = ["MAX_METADATA_BYTES", "MAX_METADATA_ENTRIES"];

/** The metadata limits the chart renders for each app's container (with the local values). */
async function chartMetadataEnv(): Promise<Record<"user-service" | "chat", Record<string, string>>> {
  const { stdout } = await run(
    toolPath("helm"),
    ["template", "polyrpc", chartDir, "--kube-version", "1.31.0", "-f", localValuesFile],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  type Deployment = {
    kind?: string;
    spec?: {
      template?: { spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } };
    };
  };
  const manifests = parseAllDocuments(stdout).map((doc) => doc.toJS() as Deployment | null);
  const envOf = (app: string) => {
    const containers = manifests
      .filter((m) => m?.kind === "Deployment")
      .flatMap((m) => m!.spec?.template?.spec?.containers ?? []);
    const env = containers.find((c) => c.name === app)?.env ?? [];
    const found = Object.fromEntries(
      env.filter((e) => METADATA_VARIABLES.includes(e.name) && e.value !== undefined).map((e) => [e.name, e.value!]),
    );
    expect(Object.keys(found).sort(), `the chart's ${app} container`).toEqual(METADATA_VARIABLES);
    return found;
  };
  return { "user-service": envOf("user-service"), chat: envOf("chat") };
}

/** `count` headers `x-h-<i>: v`. */
const manyHeaders = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-h-${i}`, "v"]));

/** The cases, each as headers a call carries on top of its own. */
const CASES = {
  "a 64 KiB header": { "x-big": "a".repeat(64 * 1024) },
  "200 headers": manyHeaders(200),
  "an 8 KiB header": { "x-big": "a".repeat(8 * 1024) },
  // Just inside the sidecar's 16 KiB and 100 headers (with a call's own ~10), past what the app
  // would count against the same numbers: 32 bytes more per entry, and the headers Envoy adds.
  "14 KiB and 88 more headers at once": { "x-big": "a".repeat(14 * 1024), ...manyHeaders(88) },
} satisfies Record<string, Record<string, string>>;

function metadataOf(headers: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return metadata;
}

/** What a gRPC call ended with: "OK" or "<code> <details>". */
const outcome = (call: Promise<unknown>) =>
  call.then(
    () => "OK",
    (e: { code: number; details: string }) => `${Status[e.code]} ${e.details}`,
  );

/** Envoy resets an HTTP/2 stream whose headers are past its limits; grpc-js clients read INTERNAL. */
const REFUSED_BY_ENVOY = "INTERNAL Received RST_STREAM with code 2 (Internal server error)";

/**
 * Counters that would move if an app refused what Envoy let through (upstream resets, retries,
 * outlier detection) or if a call got past Envoy's header limits; read before and after.
 */
async function limitCounters(envoy: EnvoyProcess): Promise<Record<string, number>> {
  const stats = await envoy.stats(
    "^http2\\.(header_overflow|header_list_size_too_large)$|" +
      "^cluster\\.local_app\\.(upstream_rq_total|upstream_rq_5xx|upstream_rq_retry|upstream_rq_rx_reset|" +
      "outlier_detection\\.ejections_detected_consecutive_(5xx|gateway_failure))$",
  );
  return stats;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([name, value]) => [name, value - (before[name] ?? 0)]));
}

/** A Connect GetHistory call over HTTP/1.1 and TLS, as browsers and curl send them; the status line. */
function connectHttp1Call(port: number, ca: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: readFileSync(ca),
      ALPNProtocols: ["http/1.1"],
    });
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    // A refused request's unread bytes may make the close a TCP reset; the answer came first.
    socket.on("error", (err) => (answer ? undefined : reject(err)));
    socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
    const body = '{"room":"meta-lobby","limit":1}';
    socket.write(
      [
        "POST /chat.v1.ChatService/GetHistory HTTP/1.1",
        "host: localhost",
        "content-type: application/json",
        `content-length: ${body.length}`,
        "connection: close",
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
        "",
        body,
      ].join("\r\n"),
    );
  });
}

describe("request metadata through the chart's Envoy sidecars (B6)", () => {
  let certs: TestCertificates;
  let dir: string;
  let apps: ServiceProcess[];
  let envoy: LocalSidecars;
  let users: GrpcClient<typeof UserService>;
  let chat: GrpcClient<typeof chatV1.ChatService>;
  let userId: string;

  beforeAll(async () => {
    certs = createTestCertificates();
    dir = mkdtempSync(join(tmpdir(), "polyrpc-envoy-b6-"));
    const ports = await sidecarPorts();
    const env = await chartMetadataEnv();
    apps = await Promise.all([
      startUserServiceReplica(join(dir, "users.db"), env["user-service"]),
      startChatReplica(join(dir, "chat.db"), `127.0.0.1:${ports.outbound}`, env.chat),
    ]);
    envoy = await startLocalSidecars({
      dir,
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
      ports,
      userService: [{ address: "127.0.0.1", port: apps[0]!.port }],
      chat: [{ address: "127.0.0.1", port: apps[1]!.port }],
    });
    const tls = {
      credentials: credentials.createSsl(readFileSync(certs.caCert)),
      channelOptions: { "grpc.ssl_target_name_override": "localhost" },
    };
    users = createGrpcClient(UserService, `127.0.0.1:${ports.userService}`, tls);
    chat = createGrpcClient(chatV1.ChatService, `127.0.0.1:${ports.chat}`, tls);
    const user = await users.methods.createUser({
      username: "meta_ann",
      email: "meta_ann@example.com",
      password: "correct horse",
    });
    userId = user.id;
  }, 60_000);

  afterAll(async () => {
    users?.close();
    chat?.close();
    await envoy?.stop();
    killAll();
    certs?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("renders one limit into the sidecar and, with room for the sidecar's own headers, into the apps", async () => {
    const envoyYaml = readFileSync(envoy.configPaths["user-service"], "utf8");
    expect(envoyYaml).toMatch(/max_request_headers_kb: 16\n/);
    expect(envoyYaml).toMatch(/max_headers_count: 100\n/);
    // 16 KiB, 32 bytes for each of 100 + 16 entries, and 1 KiB for what Envoy adds.
    expect(await chartMetadataEnv()).toEqual({
      "user-service": { MAX_METADATA_BYTES: "21120", MAX_METADATA_ENTRIES: "116" },
      chat: { MAX_METADATA_BYTES: "21120", MAX_METADATA_ENTRIES: "116" },
    });
  });

  it("refuses a 64 KiB header or 200 headers at the user service's Envoy, and passes 8 KiB and what is just inside", async () => {
    const before = await limitCounters(envoy.userService);
    const getUser = (headers: Record<string, string>) =>
      outcome(users.methods.getUser({ id: userId }, { metadata: metadataOf(headers) }));
    expect(await getUser(CASES["a 64 KiB header"])).toBe(REFUSED_BY_ENVOY);
    const afterBig = delta(before, await limitCounters(envoy.userService));
    expect(await getUser(CASES["200 headers"])).toBe(REFUSED_BY_ENVOY);
    const refused = delta(before, await limitCounters(envoy.userService));
    expect(await getUser(CASES["an 8 KiB header"])).toBe("OK");
    expect(await getUser(CASES["14 KiB and 88 more headers at once"])).toBe("OK");
    const after = delta(before, await limitCounters(envoy.userService));
    console.log("user service's Envoy, counters moved:", after);
    // Envoy refused both itself, each by its own limit (Envoy counts the bytes as
    // header_list_size_too_large, the entries as header_overflow).
    expect(afterBig["http2.header_list_size_too_large"]).toBe(1);
    expect(refused["http2.header_overflow"]).toBe(1);
    expect(refused["cluster.local_app.upstream_rq_total"]).toBe(0);
    // What Envoy let through, the app served: no reset, no retry, nothing counted against the pod.
    expect(after["cluster.local_app.upstream_rq_total"]).toBe(2);
    for (const counter of [
      "cluster.local_app.upstream_rq_5xx",
      "cluster.local_app.upstream_rq_retry",
      "cluster.local_app.upstream_rq_rx_reset",
      "cluster.local_app.outlier_detection.ejections_detected_consecutive_5xx",
      "cluster.local_app.outlier_detection.ejections_detected_consecutive_gateway_failure",
    ]) {
      expect(after[counter] ?? 0, counter).toBe(0);
    }
  });

  it("refuses the same at the chat's Envoy, over gRPC on HTTP/2 and Connect on HTTP/1.1 (431)", async () => {
    const before = await limitCounters(envoy.chat);
    const getHistory = (headers: Record<string, string>) =>
      outcome(chat.methods.getHistory({ room: "meta-lobby", limit: 1 }, { metadata: metadataOf(headers) }));
    const http1 = (headers: Record<string, string>) => connectHttp1Call(envoy.ports.chat, certs.caCert, headers);
    expect(await getHistory(CASES["a 64 KiB header"])).toBe(REFUSED_BY_ENVOY);
    expect(await getHistory(CASES["200 headers"])).toBe(REFUSED_BY_ENVOY);
    expect(await http1(CASES["a 64 KiB header"])).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(await http1(CASES["200 headers"])).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(delta(before, await limitCounters(envoy.chat))["cluster.local_app.upstream_rq_total"]).toBe(0);
    for (const headers of [CASES["an 8 KiB header"], CASES["14 KiB and 88 more headers at once"]]) {
      expect(await getHistory(headers)).toBe("OK");
      expect(await http1(headers)).toBe("HTTP/1.1 200 OK");
    }
    const after = delta(before, await limitCounters(envoy.chat));
    console.log("chat's Envoy, counters moved:", after);
    expect(after["cluster.local_app.upstream_rq_total"]).toBe(4);
    for (const counter of ["cluster.local_app.upstream_rq_5xx", "cluster.local_app.upstream_rq_rx_reset"]) {
      expect(after[counter] ?? 0, counter).toBe(0);
    }
  });

  it("keeps the Envoys and the apps up and healthy afterwards", async () => {
    for (const app of apps) expect(app.child.exitCode, app.output()).toBeNull();
    for (const sidecar of [envoy.userService, envoy.chat]) {
      expect(sidecar.child.exitCode, sidecar.output()).toBeNull();
      expect((await sidecar.hosts("local_app")).every((host) => host.healthy)).toBe(true);
    }
    expect((await users.methods.getUser({ id: userId })).username).toBe("meta_ann");
  });
});
