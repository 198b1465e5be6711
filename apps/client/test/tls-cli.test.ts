import { protoFiles, UserService } from "@polyrpc/proto";
import {
  type ServerHandle,
  type ServiceHandlers,
  createLogger,
  implementService,
  serverEnvSchema,
  serverTls,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { createTestCertificates, type TestCertificates } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCaptured } from "./run-captured.js";

const run = (argv: string[]) => runCaptured(argv);

describe("polyrpc --tls --ca --cert --key", () => {
  let pki: TestCertificates;
  let server: ServerHandle;
  let target: string[];

  beforeAll(async () => {
    pki = createTestCertificates();
    const users = { getUser: async (req: { id: string }) => ({ id: req.id, username: "ada" }) };
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [implementService(UserService, users as unknown as ServiceHandlers<typeof UserService>)],
      files: protoFiles,
      limits: serverEnvSchema.parse({ SHUTDOWN_DRAIN_MS: "0", SHUTDOWN_TIMEOUT_MS: "1000" }),
      log: createLogger({ name: "tls-cli-test", level: "silent" }),
      // mTLS: the server asks for a client certificate signed by the test CA.
      tls: serverTls({ TLS_CERT_FILE: pki.serverCert, TLS_KEY_FILE: pki.serverKey, TLS_CLIENT_CA_FILE: pki.caCert }),
    });
    // The server certificate names localhost and 127.0.0.1.
    target = ["--target", `localhost:${server.port}`, "--timeout", "3000"];
  });
  afterAll(async () => {
    await server.shutdown();
    pki.remove();
  });

  it("calls a server that requires mTLS with the CA and a client certificate", async () => {
    const res = await run([
      ...target,
      "--ca",
      pki.caCert,
      "--cert",
      pki.clientCert,
      "--key",
      pki.clientKey,
      "get",
      "1",
      "--json",
    ]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ id: "1", username: "ada" });
  });

  it("is refused without a client certificate, and in plaintext", async () => {
    const noCert = await run([...target, "--ca", pki.caCert, "get", "1"]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/^error: UNAVAILABLE/);
    const plaintext = await run([...target, "get", "1"]);
    expect(plaintext.code).toBe(1);
    expect(plaintext.stderr).toMatch(/^error: UNAVAILABLE/);
  });

  it("refuses a certificate without its key as bad usage", async () => {
    const res = await run([...target, "--cert", pki.clientCert, "get", "1"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--cert and --key go together");
  });
});
