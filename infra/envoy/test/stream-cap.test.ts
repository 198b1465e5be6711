import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";
import { chatV1, UserService } from "@polyrpc/proto";
import { serverEnvSchema } from "@polyrpc/server-kit";
import { createGrpcClient } from "@polyrpc/grpc-client";
import {
  createTestCertificates,
  metricsUrlOf,
  openHeldStreams,
  watchCallsInFlight,
  type HeldStreams,
  type ServiceProcess,
  type TestCertificates,
} from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { sidecarPorts, startLocalSidecars, type EnvoyProcess, type LocalSidecars } from "../src/index.js";
import { killAll, startChatReplica, startUserServiceReplica } from "./processes.js";

/**
 * L3 of ../shared TESTS.md through the chart's Envoy sidecar: 150 streams opened at once on one
 * client connection to an app's Envoy, which allows 100 per connection (as the apps do). The
 * extra 50 wait for a free stream, none fails, and neither Envoy nor the app behind it ever runs
 * more than 100.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The apps' stream cap per connection (MAX_CONCURRENT_STREAMS), which Envoy's must match. */
const APP_STREAM_CAP = serverEnvSchema.parse({}).MAX_CONCURRENT_STREAMS;
const STREAMS = 150;

/**
 * Metrics on, on a free port, for the calls in flight; no per-caller rate limits, as all 150
 * streams (and the chat's user lookups) come from one anonymous caller.
 */
const APP_ENV = {
  METRICS_ENABLED: "true",
  METRICS_PORT: "0",
  RATE_LIMIT_UNARY_PER_S: "0",
  RATE_LIMIT_STREAMS_PER_S: "0",
};

/**
 * Every `max_concurrent_streams` in a rendered Envoy configuration, by the listener or cluster
 * that sets it (`listeners/inbound_tls`, `clusters/local_app`).
 */
function maxConcurrentStreams(config: unknown): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  const { listeners = [], clusters = [] } =
    (config as { static_resources?: Record<string, Array<{ name: string }>> }).static_resources ?? {};
  const walk = (node: unknown, owner: string) => {
    if (typeof node !== "object" || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "max_concurrent_streams") found[owner] = value;
      else walk(value, owner);
    }
  };
  for (const listener of listeners) walk(listener, `listeners/${listener.name}`);
  for (const cluster of clusters) walk(cluster, `clusters/${cluster.name}`);
  return found;
}

describe("the chart's Envoy sidecars with 150 streams on one connection (L3)", () => {
  let certs: TestCertificates;
  let dir: string;
  let userService: ServiceProcess;
  let chat: ServiceProcess;
  let envoy: LocalSidecars;
  let tls: ChannelCredentials;
  let userId: string;
  // SNI and the name checked: localhost, as the development certificate names.
  const channelOptions = { "grpc.ssl_target_name_override": "localhost" };

  beforeAll(async () => {
    certs = createTestCertificates();
    dir = mkdtempSync(join(tmpdir(), "polyrpc-envoy-l3-"));
    const ports = await sidecarPorts();
    [userService, chat] = await Promise.all([
      startUserServiceReplica(join(dir, "users.db"), APP_ENV),
      startChatReplica(join(dir, "chat.db"), `127.0.0.1:${ports.outbound}`, APP_ENV),
    ]);
    envoy = await startLocalSidecars({
      dir,
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
      ports,
      userService: [{ address: "127.0.0.1", port: userService.port }],
      chat: [{ address: "127.0.0.1", port: chat.port }],
    });
    tls = credentials.createSsl(readFileSync(certs.caCert));
    const users = createGrpcClient(UserService, `127.0.0.1:${ports.userService}`, { credentials: tls, channelOptions });
    try {
      const user = await users.methods.createUser({
        username: "stream_cap",
        email: "stream_cap@example.com",
        password: "correct horse",
      });
      userId = user.id;
    } finally {
      users.close();
    }
  }, 120_000);

  afterAll(async () => {
    await envoy?.stop();
    killAll();
    certs?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`renders max_concurrent_streams ${APP_STREAM_CAP}, the apps' own cap, for every listener and upstream cluster`, () => {
    const cap = (...owners: string[]) => Object.fromEntries(owners.map((owner) => [owner, APP_STREAM_CAP]));
    const rendered = (app: "user-service" | "chat") =>
      maxConcurrentStreams(parse(readFileSync(envoy.configPaths[app], "utf8")));
    // Downstream, the listeners clients connect to; upstream, the clusters Envoy opens connections in.
    expect(rendered("user-service")).toEqual(cap("listeners/inbound_tls", "clusters/local_app"));
    expect(rendered("chat")).toEqual(
      cap("listeners/inbound_tls", "listeners/outbound_user_service", "clusters/local_app", "clusters/user_service"),
    );
  });

  describe.each([
    {
      app: "user service (grpc-js)",
      envoyOf: () => envoy.userService,
      server: () => userService,
      method: ["user.UserService", "Chat"] as const,
      /** UserService.Chat echoes each message: the echo of the first is the stream's answer. */
      openStreams: () => {
        const client = createGrpcClient(UserService, `127.0.0.1:${envoy.ports.userService}`, {
          credentials: tls,
          channelOptions,
        });
        const held = openHeldStreams({
          count: STREAMS,
          firstRequest: (i) => ({ userId, text: `held ${i}` }),
          open: (_, requests) => client.methods.chat(requests),
        });
        return { held, close: () => client.close() };
      },
    },
    {
      app: "chat (connect-node)",
      envoyOf: () => envoy.chat,
      server: () => chat,
      method: ["chat.v1.ChatService", "Chat"] as const,
      /** ChatService.Chat answers a join with `joined`; half-closing ends it OK. */
      openStreams: () => {
        const client = createGrpcClient(chatV1.ChatService, `127.0.0.1:${envoy.ports.chat}`, {
          credentials: tls,
          channelOptions,
        });
        const held = openHeldStreams({
          count: STREAMS,
          // A room each, so that no stream hears of the others' presence.
          firstRequest: (i) => ({ action: { case: "join" as const, value: { room: `cap-${i}`, userId } } }),
          open: (_, requests) => client.methods.chat(requests),
        });
        return { held, close: () => client.close() };
      },
    },
  ])("through the $app's Envoy", ({ envoyOf, server, method, openStreams }) => {
    /** What Envoy is running now: requests of its inbound listener, and to the app. */
    async function envoyActive(sidecar: EnvoyProcess) {
      const stats = await sidecar.stats(
        "^(http\\.inbound\\.downstream_rq_active|cluster\\.local_app\\.upstream_rq_active)$",
      );
      return {
        downstream: stats["http.inbound.downstream_rq_active"],
        upstream: stats["cluster.local_app.upstream_rq_active"],
      };
    }

    /** The counts while streams are held: Envoy's and the app's, each at the cap. */
    async function expectAtCap(held: HeldStreams, answered: number, inFlight: { current(): Promise<number> }) {
      expect(held.failures).toEqual([]);
      expect(held.answered).toBe(answered);
      expect(await inFlight.current(), "calls the app is running").toBe(APP_STREAM_CAP);
      expect(await envoyActive(envoyOf())).toEqual({ downstream: APP_STREAM_CAP, upstream: APP_STREAM_CAP });
    }

    it(`serves ${APP_STREAM_CAP} of ${STREAMS} streams opened at once on one connection, lets the rest wait, and completes all ${STREAMS}`, async () => {
      const inFlight = watchCallsInFlight(metricsUrlOf(server()), method[0], method[1]);
      const { held, close } = openStreams();
      try {
        await held.whenAnswered(APP_STREAM_CAP, 30_000);
        // Time for a 101st stream to be served, were the cap not held: none is, and none failed.
        await sleep(1000);
        await expectAtCap(held, APP_STREAM_CAP, inFlight);

        // Ending one stream lets exactly one waiting stream in.
        expect((await held.releaseOne()).error).toBeUndefined();
        await held.whenAnswered(APP_STREAM_CAP + 1, 10_000);
        await sleep(500);
        await expectAtCap(held, APP_STREAM_CAP + 1, inFlight);

        const outcomes = await held.releaseAll();
        const maxInFlight = await inFlight.stop();
        console.log(
          `L3 through Envoy, ${method.join("/")}: ${outcomes.filter((o) => o.error === undefined).length}/${STREAMS} ` +
            `completed OK; at most ${maxInFlight} running in the app (metrics), ${held.maxServedAtOnce} served at once (client)`,
        );
        expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
        expect(outcomes.every((o) => o.responses > 0)).toBe(true);
        expect(maxInFlight).toBe(APP_STREAM_CAP);
        expect(held.maxServedAtOnce).toBeLessThanOrEqual(APP_STREAM_CAP);
      } finally {
        await inFlight.stop();
        close();
      }
    }, 90_000);
  });
});
