/**
 * B6 on the kit's two servers, with the default metadata limit (MAX_METADATA_BYTES 16 KiB,
 * MAX_METADATA_ENTRIES 100): a 64 KiB header or 200 headers are refused before any handler runs,
 * 8 KiB goes through, and the server is none the worse. infra/envoy/test/metadata-limit.test.ts
 * holds the same cases through the chart's Envoy sidecar.
 */
import { connect as http2Connect, constants as http2Constants, type ClientHttp2Session } from "node:http2";
import { connect as netConnect } from "node:net";
import { Metadata, status as Status } from "@grpc/grpc-js";
import type { UserService } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GrpcClient } from "@polyrpc/grpc-client";
import { serverEnvSchema } from "../src/config.js";
import { headerListSize } from "../src/http2-session-guard.js";
import { HealthClient } from "@polyrpc/testing";
import { RUNTIMES, startUserServiceOn } from "./user-service-on.js";

const { MAX_METADATA_BYTES, MAX_METADATA_ENTRIES } = serverEnvSchema.parse({});
let handlerRuns = 0;

/** The header's value as either runtime's handler context holds it (grpc-js Metadata, or connect's Headers). */
function headerOf(ctx: unknown, name: string): string {
  const { requestMetadata, requestHeader } = ctx as {
    requestMetadata?: Metadata;
    requestHeader?: Headers;
  };
  return String(requestMetadata?.get(name)[0] ?? requestHeader?.get(name) ?? "");
}

const impl = {
  /** Answers with the length of the `x-big` header it received, so a test sees it arrive whole. */
  async getUser(req: { id: string }, ctx: unknown) {
    handlerRuns++;
    return { id: req.id, username: String(headerOf(ctx, "x-big").length) };
  },
};

/** `count` headers `x-h-<i>: v`. */
const manyHeaders = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-h-${i}`, "v"]));

function metadataOf(headers: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return metadata;
}

/** The request headers of a raw gRPC GetUser call, pseudo-headers included: 6 entries. */
const GRPC_HEADERS = {
  ":method": "POST",
  ":scheme": "http",
  ":authority": "localhost",
  ":path": "/user.UserService/GetUser",
  "content-type": "application/grpc",
  te: "trailers",
};

interface RawAnswer {
  /** The gRPC status, when the server answered. */
  grpcStatus: string | undefined;
  /** The RST_STREAM code the stream closed with (0: none). */
  rstCode: number;
}

/** One raw gRPC GetUser call (an empty request) with `headers` on top of GRPC_HEADERS. */
function rawCall(session: ClientHttp2Session, headers: Record<string, string>): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const stream = session.request({ ...GRPC_HEADERS, ...headers });
    let grpcStatus: string | undefined;
    stream.on("response", (h) => (grpcStatus = h["grpc-status"] as string | undefined));
    stream.on("trailers", (t) => (grpcStatus = (t["grpc-status"] as string | undefined) ?? grpcStatus));
    stream.on("data", () => {});
    stream.on("error", () => {}); // the RST_STREAM, read from rstCode
    stream.on("close", () => resolve({ grpcStatus, rstCode: stream.rstCode ?? 0 }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

/**
 * A client session that may send big header blocks (Node's own default stops at 64 KiB) and
 * resolves once the server's SETTINGS arrived: streams from then on are held to them by Node.
 */
async function settledSession(address: string): Promise<ClientHttp2Session> {
  const session = http2Connect(`http://${address}`, { maxSendHeaderBlockLength: 1024 * 1024 });
  session.on("error", () => {});
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  // The acknowledgement of the server's settings goes out right after; one round trip for it to land.
  await new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve(undefined))));
  return session;
}

/** An HTTP/1.1 Connect GetUser call over a raw socket; the status line of the answer. */
function http1Call(port: number, headerLines: string[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    // A refused request's unread bytes make the server's close a TCP reset; the answer came first.
    socket.on("error", () => {});
    socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
    const body = '{"id":"h1"}';
    socket.write(
      [
        "POST /user.UserService/GetUser HTTP/1.1",
        "host: localhost",
        "content-type: application/json",
        `content-length: ${body.length}`,
        "connection: close",
        ...headerLines,
        "",
        body,
      ].join("\r\n"),
    );
  });
}

describe.each(RUNTIMES)("B6 request metadata on %s", (runtime) => {
  let address: string;
  let client: GrpcClient<typeof UserService>;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    const server = await startUserServiceOn(runtime, impl);
    ({ address, client } = server);
    stop = () => server.stop();
  });
  afterAll(() => stop());

  /** A GetUser call with `headers` as metadata: "OK <x-big length>" or "<code> <details>". */
  const call = (headers: Record<string, string>) =>
    client.methods.getUser({ id: "u1" }, { metadata: metadataOf(headers) }).then(
      (user) => `OK ${user.username}`,
      (e: { code: number; details: string }) => `${Status[e.code]} ${e.details}`,
    );

  it("runs with the documented default: 16 KiB and 100 entries", () => {
    expect([MAX_METADATA_BYTES, MAX_METADATA_ENTRIES]).toEqual([16 * 1024, 100]);
  });

  it("refuses a 64 KiB header with RESOURCE_EXHAUSTED before any handler runs", async () => {
    const before = handlerRuns;
    // Node resets the stream (ENHANCE_YOUR_CALM), which grpc-js clients read as RESOURCE_EXHAUSTED.
    expect(await call({ "x-big": "a".repeat(64 * 1024) })).toBe(
      "RESOURCE_EXHAUSTED Bandwidth exhausted or memory limit exceeded",
    );
    expect(handlerRuns).toBe(before);
  });

  it("refuses 200 headers with RESOURCE_EXHAUSTED before any handler runs", async () => {
    const before = handlerRuns;
    expect(await call(manyHeaders(200))).toBe("RESOURCE_EXHAUSTED Bandwidth exhausted or memory limit exceeded");
    expect(handlerRuns).toBe(before);
  });

  it("accepts an 8 KiB header, which reaches the handler whole", async () => {
    expect(await call({ "x-big": "a".repeat(8 * 1024) })).toBe(`OK ${8 * 1024}`);
  });

  it("holds the limits exactly: 100 entries and 16,384 bytes pass, one more of either is refused", async () => {
    const session = await settledSession(address);
    try {
      const pseudoAndGrpc = Object.keys(GRPC_HEADERS).length;
      const entries = (count: number) => rawCall(session, manyHeaders(count - pseudoAndGrpc));
      expect(await entries(MAX_METADATA_ENTRIES)).toEqual({ grpcStatus: "0", rstCode: 0 });
      expect(await entries(MAX_METADATA_ENTRIES + 1)).toEqual({
        grpcStatus: undefined,
        rstCode: http2Constants.NGHTTP2_ENHANCE_YOUR_CALM,
      });
      // x-big's value sized so the whole list, as SETTINGS_MAX_HEADER_LIST_SIZE counts it, is `size`.
      const base = headerListSize([...Object.entries(GRPC_HEADERS).flat(), "x-big", ""]);
      const bytes = (size: number) => rawCall(session, { "x-big": "a".repeat(size - base) });
      expect(await bytes(MAX_METADATA_BYTES)).toEqual({ grpcStatus: "0", rstCode: 0 });
      expect(await bytes(MAX_METADATA_BYTES + 1)).toEqual({
        grpcStatus: undefined,
        rstCode: http2Constants.NGHTTP2_ENHANCE_YOUR_CALM,
      });
    } finally {
      session.close();
    }
  });

  it("holds the byte limit on a connection's first stream too, sent before the server's settings are acknowledged", async () => {
    const before = handlerRuns;
    // Connecting and sending at once: the preface, the client's SETTINGS and this stream's
    // HEADERS go out in one flight, ahead of the acknowledgement Node waits for.
    const session = http2Connect(`http://${address}`, { maxSendHeaderBlockLength: 1024 * 1024 });
    session.on("error", () => {});
    try {
      expect(await rawCall(session, { "x-big": "a".repeat(64 * 1024) })).toEqual({
        grpcStatus: undefined,
        rstCode: http2Constants.NGHTTP2_ENHANCE_YOUR_CALM,
      });
      expect(handlerRuns).toBe(before);
    } finally {
      session.close();
    }
  });

  it("is still SERVING afterwards, and answers calls on the same channel", async () => {
    const health = new HealthClient(address);
    try {
      expect(await health.check("")).toBe("SERVING");
    } finally {
      health.close();
    }
    expect(await call({ "x-small": "v" })).toBe("OK 0");
  });
});

describe("B6 request metadata over HTTP/1.1 (Connect, gRPC-Web) on connect", () => {
  let port: number;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    const server = await startUserServiceOn("connect", impl);
    port = Number(server.address.split(":")[1]);
    stop = () => server.stop();
  });
  afterAll(() => stop());

  it("answers a 64 KiB header or 200 headers with 431 before any handler runs, and 8 KiB with 200", async () => {
    const before = handlerRuns;
    expect(await http1Call(port, [`x-big: ${"a".repeat(64 * 1024)}`])).toBe(
      "HTTP/1.1 431 Request Header Fields Too Large",
    );
    // The request's own 4 headers and 196 more.
    expect(
      await http1Call(
        port,
        Object.keys(manyHeaders(196)).map((name) => `${name}: v`),
      ),
    ).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(handlerRuns).toBe(before);
    expect(await http1Call(port, [`x-big: ${"a".repeat(8 * 1024)}`])).toBe("HTTP/1.1 200 OK");
    expect(handlerRuns).toBe(before + 1);
  });

  it("holds the entry limit exactly: 100 headers pass, 101 are refused", async () => {
    const headers = (count: number) => Object.keys(manyHeaders(count - 4)).map((name) => `${name}: v`);
    expect(await http1Call(port, headers(MAX_METADATA_ENTRIES))).toBe("HTTP/1.1 200 OK");
    expect(await http1Call(port, headers(MAX_METADATA_ENTRIES + 1))).toBe(
      "HTTP/1.1 431 Request Header Fields Too Large",
    );
  });
});
