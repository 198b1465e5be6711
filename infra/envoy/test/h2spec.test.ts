import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkH2spec, createTestCertificates, type TestCertificates } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, it } from "vitest";
import { sidecarPorts, startLocalSidecars, type LocalSidecars } from "../src/index.js";
import {
  chatInboundKnownFailures,
  outboundKnownFailures,
  userServiceInboundKnownFailures,
} from "./h2spec-known-failures.js";
import { killAll, startChatReplica, startUserServiceReplica } from "./processes.js";

/**
 * Each run takes about a minute: Envoy closes a connection it sent GOAWAY on only after its
 * delayed-close timeout (1 s), and some 40 cases end that way. The runs mostly wait, so they run side
 * by side, each under the 2 s per-frame timeout (h2spec's default).
 */
const H2SPEC_RUN_MS = 120_000;

describe.concurrent("h2spec, the HTTP/2 conformance tester, against the chart's Envoy sidecars", () => {
  let certs: TestCertificates;
  let dir: string;
  let envoy: LocalSidecars;

  beforeAll(async () => {
    certs = createTestCertificates();
    dir = mkdtempSync(join(tmpdir(), "polyrpc-envoy-h2spec-"));
    const ports = await sidecarPorts();
    const [user, chat] = await Promise.all([
      startUserServiceReplica(join(dir, "users.db")),
      startChatReplica(join(dir, "chat.db"), `127.0.0.1:${ports.outbound}`),
    ]);
    envoy = await startLocalSidecars({
      dir,
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
      ports,
      userService: [{ address: "127.0.0.1", port: user.port }],
      chat: [{ address: "127.0.0.1", port: chat.port }],
    });
  }, 90_000);

  afterAll(async () => {
    await envoy?.stop();
    killAll();
    certs?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    "passes on the user service's inbound TLS listener but for the known failures",
    async ({ expect }) => {
      const check = await checkH2spec({ port: envoy.ports.userService, tls: true }, userServiceInboundKnownFailures);
      console.log(`h2spec against the user service's Envoy (inbound, TLS): ${check.summary}`);
      expect(check.problems, check.output).toEqual([]);
    },
    H2SPEC_RUN_MS,
  );

  it(
    "passes on the chat's inbound TLS listener but for the known failures",
    async ({ expect }) => {
      const check = await checkH2spec({ port: envoy.ports.chat, tls: true }, chatInboundKnownFailures);
      console.log(`h2spec against the chat's Envoy (inbound, TLS): ${check.summary}`);
      expect(check.problems, check.output).toEqual([]);
    },
    H2SPEC_RUN_MS,
  );

  it(
    "passes on the chat's plaintext outbound listener to the user service but for the known failures",
    async ({ expect }) => {
      // h2c with prior knowledge, as the chat's grpc-js channel dials it.
      const check = await checkH2spec({ port: envoy.ports.outbound }, outboundKnownFailures);
      console.log(`h2spec against the chat's Envoy (outbound, h2c): ${check.summary}`);
      expect(check.problems, check.output).toEqual([]);
    },
    H2SPEC_RUN_MS,
  );
});
