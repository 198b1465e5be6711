import {
  checkH2spec,
  createTestCertificates,
  grpcServerBodilessAnswers,
  h2cBesideHttp1KnownFailures,
  nodeHttp2AnswerRaces,
  nodeHttp2KnownFailures,
  type KnownH2specFailures,
  type TestCertificates,
} from "@polyrpc/testing";
import { afterAll, beforeAll, describe, it } from "vitest";
import { killAll, startChatApp, startUserService, type ServiceProcess } from "./processes.js";

/**
 * What each port fails of h2spec and why (packages/testing/src/h2spec-known-failures.ts):
 * Node's HTTP/2 on every port, the cases timing decides because both servers answer h2spec's
 * requests at once, the user service's bodiless 415 to a request that is not gRPC, and the chat's
 * HTTP/1.1 beside h2c on its plaintext port.
 */
const userServiceKnownFailures: KnownH2specFailures = {
  ...nodeHttp2KnownFailures,
  ...nodeHttp2AnswerRaces,
  ...grpcServerBodilessAnswers,
};
const chatTlsKnownFailures: KnownH2specFailures = { ...nodeHttp2KnownFailures, ...nodeHttp2AnswerRaces };
const chatKnownFailures: KnownH2specFailures = { ...chatTlsKnownFailures, ...h2cBesideHttp1KnownFailures };

// The four runs mostly wait on h2spec's per-frame timeout, so they run side by side.
describe.concurrent("h2spec, the HTTP/2 conformance tester, against the apps' own ports", () => {
  let certs: TestCertificates;
  let userService: ServiceProcess;
  let userServiceTls: ServiceProcess;
  let chat: ServiceProcess;
  let chatTls: ServiceProcess;

  beforeAll(async () => {
    certs = createTestCertificates();
    const tls = { TLS_CERT_FILE: certs.serverCert, TLS_KEY_FILE: certs.serverKey };
    [userService, userServiceTls] = await Promise.all([
      startUserService({ DATABASE_PATH: ":memory:" }),
      startUserService({ DATABASE_PATH: ":memory:", ...tls }),
    ]);
    const chatEnv = { DATABASE_PATH: ":memory:", USER_SERVICE_ADDRESS: `127.0.0.1:${userService.port}` };
    [chat, chatTls] = await Promise.all([startChatApp(chatEnv), startChatApp({ ...chatEnv, ...tls })]);
  }, 90_000);

  afterAll(() => {
    killAll();
    certs?.remove();
  });

  it("passes on the user service's plaintext port (grpc-js, h2c) but for the known failures", async ({ expect }) => {
    const check = await checkH2spec({ port: userService.port }, userServiceKnownFailures);
    console.log(`h2spec against the user service (h2c): ${check.summary}`);
    expect(check.problems, check.output).toEqual([]);
  });

  it("passes on the user service's TLS port (grpc-js, ALPN h2) but for the known failures", async ({ expect }) => {
    const check = await checkH2spec({ port: userServiceTls.port, tls: true }, userServiceKnownFailures);
    console.log(`h2spec against the user service (TLS): ${check.summary}`);
    expect(check.problems, check.output).toEqual([]);
  });

  it("passes on the chat's plaintext port (connect-node, h2c beside HTTP/1.1) but for the known failures", async ({
    expect,
  }) => {
    const check = await checkH2spec({ port: chat.port }, chatKnownFailures);
    console.log(`h2spec against the chat (h2c): ${check.summary}`);
    expect(check.problems, check.output).toEqual([]);
  });

  it("passes on the chat's TLS port (connect-node, ALPN h2) but for the known failures", async ({ expect }) => {
    const check = await checkH2spec({ port: chatTls.port, tls: true }, chatTlsKnownFailures);
    console.log(`h2spec against the chat (TLS): ${check.summary}`);
    expect(check.problems, check.output).toEqual([]);
  });
});
