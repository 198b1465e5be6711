import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import { createTestCertificates, type ServiceProcess, type TestCertificates } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  sidecarPorts,
  startLocalSidecars,
  writeTlsDirectory,
  type LocalSidecars,
  type UpstreamHost,
} from "../src/index.js";
import {
  killAll,
  runCli,
  runCommand,
  startChatReplica,
  startCli,
  startUserServiceReplica,
  type Session,
} from "./processes.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests per host address since `before`. */
function spread(before: UpstreamHost[], after: UpstreamHost[]): Record<string, number> {
  return Object.fromEntries(
    after.map((host) => [
      host.address,
      host.requests - (before.find((b) => b.address === host.address)?.requests ?? 0),
    ]),
  );
}

/** `openssl s_client` against 127.0.0.1:port with `args`; its exit code and everything it printed. */
async function tlsHandshake(port: number, args: string[]) {
  const run = await runCommand("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "localhost",
    ...args,
  ]);
  return { code: run.code, output: run.stdout + run.stderr };
}

/** A new server certificate for localhost from the test CA, as a rotation would bring. */
function issueRotatedCertificate(certs: TestCertificates): { cert: string; key: string } {
  const dir = certs.dir;
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  writeFileSync(join(dir, "rotated.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  openssl(
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-keyout",
      "rotated.key",
      "-out",
      "rotated.csr",
      "-subj",
      "/CN=localhost-rotated",
    ]),
  );
  openssl(
    ["x509", "-req", "-in", "rotated.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"].concat([
      "-days",
      "2",
      "-out",
      "rotated.crt",
      "-extfile",
      "rotated.ext",
    ]),
  );
  return { cert: join(dir, "rotated.crt"), key: join(dir, "rotated.key") };
}

describe("the chart's Envoy sidecars in front of local replicas (D5)", () => {
  let certs: TestCertificates;
  let dir: string;
  let users: ServiceProcess[];
  let chats: ServiceProcess[];
  let envoy: LocalSidecars;
  let client: GrpcClient<typeof UserService>;
  let userId: string;
  let chatStream: Session;
  let chatStreamOpenedAt: number;
  const tlsArgs = () => ["--ca", certs.caCert];

  beforeAll(async () => {
    certs = createTestCertificates();
    dir = mkdtempSync(join(tmpdir(), "polyrpc-envoy-d5-"));
    const ports = await sidecarPorts();
    // The first replica creates the schema; the others open the same SQLite file (WAL).
    const usersDb = join(dir, "users.db");
    const chatDb = join(dir, "chat.db");
    const outbound = `127.0.0.1:${ports.outbound}`;
    const [firstUser, firstChat] = await Promise.all([
      startUserServiceReplica(usersDb),
      startChatReplica(chatDb, outbound),
    ]);
    const [secondUser, thirdUser, secondChat] = await Promise.all([
      startUserServiceReplica(usersDb),
      startUserServiceReplica(usersDb),
      startChatReplica(chatDb, outbound),
    ]);
    users = [firstUser, secondUser!, thirdUser!];
    chats = [firstChat, secondChat!];
    envoy = await startLocalSidecars({
      dir,
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
      ports,
      userService: users.map((u) => ({ address: "127.0.0.1", port: u.port })),
      chat: chats.map((c) => ({ address: "127.0.0.1", port: c.port })),
    });
    client = createGrpcClient(UserService, `127.0.0.1:${ports.userService}`, {
      credentials: credentials.createSsl(readFileSync(certs.caCert)),
      // SNI and the name checked: localhost (an IP address as SNI is not allowed).
      channelOptions: { "grpc.ssl_target_name_override": "localhost" },
    });
    const user = await client.methods.createUser({
      username: "envoy_ann",
      email: "envoy_ann@example.com",
      password: "correct horse",
    });
    userId = user.id;
    // A chat stream through the chat's Envoy, kept open while the other checks run; the last
    // test writes to it after 60 s.
    chatStream = startCli([
      "chat",
      "join",
      "envoy-lobby",
      "--user",
      userId,
      "--chat-target",
      `127.0.0.1:${ports.chat}`,
      ...tlsArgs(),
    ]);
    await chatStream.waitFor(new RegExp(`joined envoy-lobby as ${userId}`));
    chatStreamOpenedAt = Date.now();
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await envoy?.stop();
    killAll();
    certs?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs the client's demo, every call pattern, over TLS through Envoy", async () => {
    const demo = await runCli(["demo", "--target", `127.0.0.1:${envoy.ports.userService}`, ...tlsArgs()]);
    expect(demo.stdout + demo.stderr).toContain("demo passed: all 8 steps behaved as expected");
    expect(demo.code).toBe(0);
  });

  it("balances each RPC of one client connection over every user-service replica", async () => {
    const before = await envoy.userService.hosts("local_app");
    for (let i = 0; i < 30; i++) {
      expect((await client.methods.getUser({ id: userId })).username).toBe("envoy_ann");
    }
    const calls = spread(before, await envoy.userService.hosts("local_app"));
    console.log("GetUser calls per user-service replica:", calls);
    expect(Object.keys(calls).sort()).toEqual(users.map((u) => `127.0.0.1:${u.port}`).sort());
    for (const count of Object.values(calls)) expect(count).toBeGreaterThan(0);
    expect(Object.values(calls).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(30);
    // grpc_stats counted them per method and status.
    const stats = await envoy.userService.stats("grpc\\.user\\.UserService\\.GetUser\\.success$");
    expect(stats["cluster.local_app.grpc.user.UserService.GetUser.success"]).toBeGreaterThanOrEqual(30);
  });

  it("turns gRPC-Web over HTTP/1.1 into gRPC for the chat", async () => {
    // GetHistoryRequest { room: "envoy-lobby" } in a gRPC-Web data frame.
    const message = Buffer.concat([Buffer.from([0x0a, 11]), Buffer.from("envoy-lobby")]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    const body = join(dir, "grpc-web-request.bin");
    writeFileSync(body, frame);
    const curl = await runCommand("curl", [
      ...["-sS", "--http1.1", "--cacert", certs.caCert, "--resolve", `localhost:${envoy.ports.chat}:127.0.0.1`],
      ...["-H", "Content-Type: application/grpc-web+proto", "-H", "X-Grpc-Web: 1", "--data-binary", `@${body}`],
      ...["-D", "-", `https://localhost:${envoy.ports.chat}/chat.v1.ChatService/GetHistory`],
    ]);
    expect(curl.code, curl.stderr).toBe(0);
    expect(curl.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(curl.stdout).toMatch(/content-type: application\/grpc-web/i);
    // The trailers travel in the body as a gRPC-Web trailer frame.
    expect(curl.stdout).toContain("grpc-status:0");
    const stats = await envoy.chat.stats("grpc-web");
    expect(Object.keys(stats).some((name) => name.includes("grpc-web") && name.endsWith("GetHistory.success"))).toBe(
      true,
    );
  });

  it("balances Connect calls over HTTP/1.1 over both chat replicas, and the chat's user lookups through its outbound listener", async () => {
    const before = await envoy.chat.hosts("local_app");
    const url = `https://localhost:${envoy.ports.chat}/chat.v1.ChatService/GetHistory`;
    const curl = await runCommand("curl", [
      ...["-sS", "--http1.1", "--cacert", certs.caCert, "--resolve", `localhost:${envoy.ports.chat}:127.0.0.1`],
      ...["-H", "Content-Type: application/json", "-d", '{"room":"envoy-lobby","limit":5}'],
      ...Array.from({ length: 6 }, () => url),
    ]);
    expect(curl.code, curl.stderr).toBe(0);
    expect(curl.stdout.match(/\{/g)?.length).toBeGreaterThanOrEqual(6);
    const calls = spread(before, await envoy.chat.hosts("local_app"));
    console.log("GetHistory calls per chat replica:", calls);
    for (const count of Object.values(calls)) expect(count).toBeGreaterThan(0);
    // The chat checked the user through 127.0.0.1:<outbound> -> the user service's Envoy over TLS.
    const lookups = await envoy.chat.hosts("user_service");
    expect(lookups.reduce((sum, host) => sum + host.requests, 0)).toBeGreaterThan(0);
  });

  it("refuses TLS 1.0, 1.1 and non-AEAD suites, and speaks TLS 1.3 and TLS 1.2 with ALPN h2 (S5)", async () => {
    const port = envoy.ports.userService;
    const weak = "DEFAULT@SECLEVEL=0";
    const [tls10, tls11, cbc, tls12, tls13] = await Promise.all([
      tlsHandshake(port, ["-tls1", "-cipher", weak]),
      tlsHandshake(port, ["-tls1_1", "-cipher", weak]),
      tlsHandshake(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"]),
      tlsHandshake(port, [
        "-tls1_2",
        "-cipher",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "-alpn",
        "h2",
        "-CAfile",
        certs.caCert,
      ]),
      tlsHandshake(port, ["-tls1_3", "-alpn", "h2", "-CAfile", certs.caCert]),
    ]);
    // The server answers each with an alert: no session, no cipher.
    for (const refused of [tls10, tls11, cbc]) {
      expect(refused.code, refused.output).not.toBe(0);
      expect(refused.output).toMatch(/Cipher is \(NONE\)/);
    }
    expect(tls10.output).toMatch(/alert protocol version/);
    expect(tls11.output).toMatch(/alert protocol version/);
    expect(cbc.output).toMatch(/alert handshake failure/);
    expect(tls12.output).toMatch(/TLSv1\.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256/);
    expect(tls13.output).toMatch(/TLSv1\.3, Cipher is TLS_/);
    for (const ok of [tls12, tls13]) {
      expect(ok.output).toContain("ALPN protocol: h2");
      expect(ok.output).toContain("Verify return code: 0 (ok)");
    }
  });

  it("serves a rotated certificate without restarting Envoy (S5)", async () => {
    const pid = envoy.userService.child.pid;
    const served = async () => (await tlsHandshake(envoy.ports.userService, ["-CAfile", certs.caCert])).output;
    expect(await served()).toMatch(/s:CN\s*=\s*localhost\n/);
    const rotated = issueRotatedCertificate(certs);
    writeTlsDirectory(envoy.tlsDir, { ...rotated, ca: certs.caCert });
    let output = "";
    for (let i = 0; i < 50 && !/s:CN\s*=\s*localhost-rotated/.test(output); i++) {
      await sleep(200);
      output = await served();
    }
    expect(output).toMatch(/s:CN\s*=\s*localhost-rotated/);
    expect(output).toContain("Verify return code: 0 (ok)");
    expect(envoy.userService.child.pid).toBe(pid);
    expect(envoy.userService.child.exitCode).toBeNull();
    expect((await client.methods.getUser({ id: userId })).id).toBe(userId);
  });

  it("keeps reads succeeding while a killed replica is ejected", async () => {
    const victim = users[2]!;
    const victimAddress = `127.0.0.1:${victim.port}`;
    victim.child.kill("SIGKILL");
    const killedAt = Date.now();
    let ejectedAfterMs: number | undefined;
    let calls = 0;
    while (ejectedAfterMs === undefined) {
      expect((await client.methods.getUser({ id: userId })).id).toBe(userId);
      calls++;
      const host = (await envoy.userService.hosts("local_app")).find((h) => h.address === victimAddress)!;
      if (!host.healthy) ejectedAfterMs = Date.now() - killedAt;
      if (Date.now() - killedAt > 30_000) throw new Error(`${victimAddress} was not ejected: ${JSON.stringify(host)}`);
    }
    const before = await envoy.userService.hosts("local_app");
    for (let i = 0; i < 20; i++) expect((await client.methods.getUser({ id: userId })).id).toBe(userId);
    const after = spread(before, await envoy.userService.hosts("local_app"));
    const flags = before.find((h) => h.address === victimAddress)!.flags;
    console.log(
      `killed replica ejected after ${ejectedAfterMs} ms (${flags.join(", ")}), ${calls} reads meanwhile, then`,
      after,
    );
    expect(after[victimAddress]).toBe(0);
  });

  it("keeps a chat stream open through Envoy past 60 s", async () => {
    const wait = 62_000 - (Date.now() - chatStreamOpenedAt);
    if (wait > 0) await sleep(wait);
    expect(chatStream.child.exitCode).toBeNull();
    chatStream.write("still here after a minute\n");
    await chatStream.waitFor(new RegExp(`#\\d+ \\d\\d:\\d\\d:\\d\\d ${userId}: still here after a minute`));
    chatStream.end();
    const run = await chatStream.finished;
    expect(run.code, run.stderr).toBe(0);
    console.log(`chat stream open for ${Math.round((Date.now() - chatStreamOpenedAt) / 1000)} s through Envoy`);
  }, 120_000);
});
