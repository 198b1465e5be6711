import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { credentials, status as Status } from "@grpc/grpc-js";
import { protoFiles, UserSchema, UserService } from "@polyrpc/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGrpcClient } from "@polyrpc/grpc-client";
import { startConnectServer } from "../src/connect/index.js";
import { implementService, type ServiceHandlers } from "../src/call-context.js";
import { startGrpcServer } from "../src/grpc-js/index.js";
import { ConfigError, serverEnvSchema } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { serverTls, type ServerTls } from "../src/server-tls.js";
import { createTestCertificates, type TestCertificates } from "@polyrpc/testing";

const ada = create(UserSchema, { id: "1", username: "ada" });
const impl = { getUser: async () => ada } as unknown as ServiceHandlers<typeof UserService>;
const log = createLogger({ name: "tls-test", level: "silent" });
const limits = serverEnvSchema.parse({ SHUTDOWN_DRAIN_MS: "0", SHUTDOWN_TIMEOUT_MS: "1000" });

let pki: TestCertificates;
beforeAll(() => {
  pki = createTestCertificates();
});
afterAll(() => pki.remove());

function tlsFor(mtls: boolean): ServerTls {
  return serverTls({
    TLS_CERT_FILE: pki.serverCert,
    TLS_KEY_FILE: pki.serverKey,
    TLS_CLIENT_CA_FILE: mtls ? pki.caCert : undefined,
  })!;
}

describe("TLS on the app port", () => {
  const stops: Array<() => Promise<void>> = [];
  const closers: Array<{ close(): void }> = [];
  afterEach(async () => {
    closers.splice(0).forEach((c) => c.close());
    await Promise.all(stops.splice(0).map((stop) => stop()));
  });

  async function grpcJsServer(mtls: boolean) {
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [implementService(UserService, impl as never)],
      files: protoFiles,
      limits,
      log,
      tls: tlsFor(mtls),
    });
    stops.push(() => server.shutdown());
    return server.address;
  }

  async function connectServer(mtls: boolean) {
    const server = await startConnectServer({
      host: "127.0.0.1",
      port: 0,
      services: [implementService(UserService, impl)],
      files: protoFiles,
      limits,
      log,
      tls: tlsFor(mtls),
    });
    stops.push(() => server.shutdown());
    return server;
  }

  /** A grpc-js client: TLS with the test CA, optionally presenting a client certificate. */
  function grpcJsCall(address: string, client?: "ours" | "other" | "plaintext") {
    const creds =
      client === "plaintext"
        ? credentials.createInsecure()
        : credentials.createSsl(
            pki.read(pki.caCert),
            client === "ours" ? pki.read(pki.clientKey) : client === "other" ? pki.read(pki.otherClientKey) : null,
            client === "ours" ? pki.read(pki.clientCert) : client === "other" ? pki.read(pki.otherClientCert) : null,
          );
    const c = createGrpcClient(UserService, address, {
      credentials: creds,
      channelOptions: { "grpc.ssl_target_name_override": "localhost" },
    });
    closers.push(c);
    return c.methods.getUser({ id: "1" }, { timeoutMs: 3000 }).then(
      (u) => `OK ${u.username}`,
      (e: { code: number }) => Status[e.code],
    );
  }

  it.each([
    ["grpc-js", grpcJsServer],
    ["connect-node", async (mtls: boolean) => (await connectServer(mtls)).address],
  ] as const)("serves TLS on %s, and refuses plaintext", async (_name, start) => {
    const address = await start(false);
    expect(await grpcJsCall(address)).toBe("OK ada");
    expect(await grpcJsCall(address, "plaintext")).toBe("UNAVAILABLE");
  });

  it.each([
    ["grpc-js", grpcJsServer],
    ["connect-node", async (mtls: boolean) => (await connectServer(mtls)).address],
  ] as const)(
    "with mTLS on %s, refuses clients without a certificate or with one from another CA (S6)",
    async (_name, start) => {
      const address = await start(true);
      expect(await grpcJsCall(address, "ours")).toBe("OK ada");
      expect(await grpcJsCall(address)).toBe("UNAVAILABLE");
      expect(await grpcJsCall(address, "other")).toBe("UNAVAILABLE");
    },
  );

  it("serves gRPC-Web over HTTP/1.1 and TLS on connect-node, for browsers without a sidecar", async () => {
    const server = await connectServer(false);
    const nodeOptions = { ca: pki.read(pki.caCert), servername: "localhost" };
    for (const transport of [
      createGrpcTransport({ baseUrl: server.baseUrl, nodeOptions }),
      createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", nodeOptions }),
    ]) {
      const user = await createClient(UserService, transport).getUser({ id: "1" });
      expect(user.username).toBe("ada");
    }
    expect(server.baseUrl).toMatch(/^https:/);
    const untrusted = createClient(UserService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const err = await untrusted.getUser({ id: "1" }).catch((e: unknown) => ConnectError.from(e));
    // Refused by the client's certificate check, whatever code connect-node files it under.
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).rawMessage).toMatch(/certificate/i);
  });

  it("refuses a half-configured or unreadable TLS setup at start-up, naming the variables", () => {
    expect(() => serverTls({ TLS_KEY_FILE: pki.serverKey })).toThrow(ConfigError);
    expect(() => serverTls({ TLS_CLIENT_CA_FILE: pki.caCert })).toThrow(/TLS_CERT_FILE: required/);
    expect(() => serverTls({ TLS_CERT_FILE: "/nope.crt", TLS_KEY_FILE: pki.serverKey })).toThrow(
      /TLS_CERT_FILE: cannot read/,
    );
    expect(serverTls({})).toBeUndefined();
  });
});
