import { readFileSync } from "node:fs";
import { connect as http2Connect, constants as http2Constants, type ClientHttp2Session } from "node:http2";
import { connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, startChatApp, startUserService, type ServiceProcess } from "./processes.js";

/** The handshake timeout the apps run with here (10 s by default; longer than a busy event loop may take to read a client's settings during the flood). */
const HANDSHAKE_TIMEOUT_MS = 2000;
const env = { HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS), DATABASE_PATH: ":memory:" };

/** A string field 1 (the request's id or room), as protobuf encodes it. */
function stringField1(value: string): Buffer {
  const bytes = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
}

/** One gRPC message frame with the given flags byte. */
function frame(message: Buffer, flags = 0): Buffer {
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

interface RawStatus {
  code: number;
  message: string;
}

/**
 * Sends one gRPC request of raw `body` bytes on a fresh HTTP/2 connection and resolves with its
 * grpc-status, or rejects if no status arrives within `timeoutMs`.
 */
function rawGrpcCall(target: string, path: string, body: Buffer, timeoutMs = 5000): Promise<RawStatus> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${target}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no status for ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    session.on("error", () => {});
    const settle = (headers: Record<string, unknown>) => {
      const code = headers["grpc-status"];
      if (code === undefined) return false;
      clearTimeout(timer);
      session.close();
      resolve({ code: Number(code), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) });
      return true;
    };
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("response", (headers) => settle(headers));
    stream.on("trailers", (headers) => settle(headers));
    stream.on("data", () => {});
    stream.on("error", (err) => {
      clearTimeout(timer);
      session.destroy();
      reject(new Error(`${path}: ${err.message}`));
    });
    stream.end(body);
  });
}

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

/** Resident and peak resident memory of a process, in MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]) / 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/**
 * The HTTP/2 rapid reset pattern (CVE-2023-44487), bounded: `connections` connections each open
 * up to `resetsPerConnection` streams (a real request each) and reset every one at once with
 * RST_STREAM CANCEL. A connection the server closes stops there. Resolves with how the
 * connections ended.
 */
async function rapidResetFlood(
  target: string,
  path: string,
  body: Buffer,
  connections: number,
  resetsPerConnection: number,
): Promise<{ resets: number; closedByServer: number; enhanceYourCalm: number }> {
  let resets = 0;
  let closedByServer = 0;
  let enhanceYourCalm = 0;
  const flood = async () => {
    const session: ClientHttp2Session = http2Connect(`http://${target}`);
    session.on("error", () => {});
    let goaway = false;
    session.on("goaway", (code) => {
      goaway = true;
      if (code === http2Constants.NGHTTP2_ENHANCE_YOUR_CALM) enhanceYourCalm++;
    });
    await new Promise<void>((resolve) => session.once("connect", () => resolve()));
    for (let i = 0; i < resetsPerConnection && !session.destroyed && !session.closed && !goaway; i++) {
      try {
        const stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        stream.on("error", () => {});
        stream.end(body);
        stream.close(http2Constants.NGHTTP2_CANCEL);
        resets++;
      } catch {
        break;
      }
      // Let the frames go out in batches, as a flooding client's writes would.
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    if (goaway || session.destroyed) closedByServer++;
    session.destroy();
  };
  await Promise.all(Array.from({ length: connections }, flood));
  return { resets, closedByServer, enhanceYourCalm };
}

describe.each([
  { runtime: "grpc-js (user service)", start: () => startUserService(env), rpc: "/user.UserService/GetUser" },
  {
    runtime: "connect-node (chat)",
    start: () => startChatApp({ ...env, DATABASE_PATH: ":memory:", USER_SERVICE_ADDRESS: "127.0.0.1:1" }),
    rpc: "/chat.v1.ChatService/GetHistory",
  },
])("hostile clients against $runtime", ({ start, rpc }) => {
  let server: ServiceProcess;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => {
    await server?.stop();
    killAll();
  });

  const request = stringField1("room-or-id");

  it("answers a well-formed frame normally (the control for the cases below)", async () => {
    const status = await rawGrpcCall(server.target, rpc, frame(request));
    expect(status.code === 0 || status.code === 5, `grpc-status ${status.code}: ${status.message}`).toBe(true);
  });

  it.each([0x02, 0x03, 0x80])("answers a message with reserved flag bits (0x%s) with INTERNAL", async (flags) => {
    const status = await rawGrpcCall(server.target, rpc, frame(request, flags));
    expect(status.code).toBe(13);
    expect(status.message).toMatch(/invalid (message )?flags 0x/i);
  });

  it("closes a connection that never sends the HTTP/2 preface, and one that stops halfway", async () => {
    const [port, host] = [server.port, "127.0.0.1"];
    const closedAfter = (send: Buffer | undefined) =>
      new Promise<number>((resolve, reject) => {
        const started = Date.now();
        const socket = tcpConnect(port, host, () => send && socket.write(send));
        socket.on("error", () => {});
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error("the server kept a silent connection open for 10 s"));
        }, 10_000);
        socket.on("close", () => {
          clearTimeout(timer);
          resolve(Date.now() - started);
        });
        socket.resume();
      });
    const [silent, halfPreface] = await Promise.all([closedAfter(undefined), closedAfter(Buffer.from("PRI * HTTP"))]);
    // Closed by the handshake timeout, not by anything earlier.
    expect(silent).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
    expect(halfPreface).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
    // And a client that does speak still gets in.
    expect((await rawGrpcCall(server.target, HEALTH_CHECK, frame(Buffer.alloc(0)))).code).toBe(0);
  });

  it("stays responsive and bounded in memory under a rapid-reset flood over 20 connections", async () => {
    const before = memoryOf(server.child.pid!);
    const probes: Array<Promise<RawStatus>> = [];
    let flooding = true;
    const probing = (async () => {
      while (flooding) {
        // Each probe is a new connection that must get its answer within 3 s, during the flood.
        probes.push(rawGrpcCall(server.target, HEALTH_CHECK, frame(Buffer.alloc(0)), 3000));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const flood = await rapidResetFlood(server.target, rpc, frame(request), 20, 900);
    flooding = false;
    await probing;
    const statuses = await Promise.all(probes);
    const after = memoryOf(server.child.pid!);
    console.log(
      `rapid reset: ${flood.resets} resets, ${flood.closedByServer}/20 connections closed by the server ` +
        `(${flood.enhanceYourCalm} with ENHANCE_YOUR_CALM); RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB, ` +
        `peak ${after.peak.toFixed(0)} MiB; ${statuses.length} health probes`,
    );
    expect(statuses.length).toBeGreaterThan(0);
    for (const status of statuses) expect(status.code).toBe(0);
    expect(after.peak - before.rss, "peak memory growth in MiB").toBeLessThan(100);
    // The server still answers once the flood is over.
    expect((await rawGrpcCall(server.target, HEALTH_CHECK, frame(Buffer.alloc(0)))).code).toBe(0);
  });
});
