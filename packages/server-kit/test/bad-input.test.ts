import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import { pipeline } from "node:stream/promises";
import { createGzip, gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import { CreateUserRequestSchema, UserService } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GrpcClient } from "@polyrpc/grpc-client";
import { HealthClient } from "@polyrpc/testing";
import { RUNTIMES, startUserServiceOn } from "./user-service-on.js";
import { startUserServiceProcess } from "./user-service-process.js";

/** The receive limit the servers run with here: small, so tests stay light. */
const LIMIT = 1024;
let handlerRuns = 0;

const impl = {
  async getUser(req: { id: string }) {
    handlerRuns++;
    return { id: req.id };
  },
  async createUser(req: { username: string }) {
    handlerRuns++;
    return { username: req.username.slice(0, 8) };
  },
  async createUsers(reqs: AsyncIterable<unknown>) {
    let count = 0;
    for await (const _ of reqs) count++;
    return { count };
  },
  async *chat(reqs: AsyncIterable<{ text: string }>) {
    for await (const m of reqs) yield { text: m.text.slice(0, 4) };
  },
};

/** A CreateUserRequest whose encoding is exactly `size` bytes (username only). */
function requestOfSize(size: number) {
  // tag (1 byte) + length varint (1 byte up to 127, else 2) + the bytes
  const username = "u".repeat(size - (size - 2 < 128 ? 2 : 3));
  const message = create(CreateUserRequestSchema, { username });
  expect(toBinary(CreateUserRequestSchema, message).length).toBe(size);
  return { username };
}

/** One gRPC length-prefixed frame. */
function frame(payload: Buffer, compressed = false, declaredLength = payload.length): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([header, payload]);
}

interface RawAnswer {
  httpStatus: number;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
}

/** A protobuf varint. */
function varint(value: number): Buffer {
  const bytes: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) bytes.push((value % 0x80) | 0x80);
  bytes.push(value);
  return Buffer.from(bytes);
}

/**
 * The gzip of a CreateUserRequest whose username is `inflatedBytes` zero bytes: deflate packs
 * zeros about 1000 to 1, so 128 MiB come to ~130 KB. Compressed as a stream, so the test never
 * holds the inflated message itself.
 */
async function gzipBomb(inflatedBytes: number): Promise<Buffer> {
  const zeros = Buffer.alloc(1024 * 1024);
  const compressed: Buffer[] = [];
  await pipeline(
    function* message() {
      yield Buffer.concat([Buffer.from([0x0a]), varint(inflatedBytes)]); // field 1 (username), its length
      for (let left = inflatedBytes; left > 0; left -= zeros.length)
        yield zeros.subarray(0, Math.min(left, zeros.length));
    },
    createGzip({ level: 9 }),
    async function collect(chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) compressed.push(chunk);
    },
  );
  return Buffer.concat(compressed);
}

/** Sends raw bytes as one gRPC request and returns the HTTP and gRPC status it got. */
function rawCall(session: ClientHttp2Session, path: string, body: Buffer, headers: Record<string, string> = {}) {
  return new Promise<RawAnswer>((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let answer: RawAnswer = { httpStatus: 0, grpcStatus: undefined, grpcMessage: undefined };
    req.on("response", (h) => {
      answer = {
        httpStatus: Number(h[":status"]),
        grpcStatus: h["grpc-status"] as string | undefined,
        grpcMessage: h["grpc-message"] as string | undefined,
      };
    });
    req.on("trailers", (t) => {
      answer.grpcStatus = (t["grpc-status"] as string | undefined) ?? answer.grpcStatus;
      answer.grpcMessage = (t["grpc-message"] as string | undefined) ?? answer.grpcMessage;
    });
    req.on("data", () => {});
    req.on("end", () => resolve(answer));
    req.on("error", reject);
    req.end(body);
  });
}

describe.each(RUNTIMES)("bad input on %s", (runtime) => {
  let address: string;
  let client: GrpcClient<typeof UserService>;
  let session: ClientHttp2Session;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    const server = await startUserServiceOn(runtime, impl, {
      env: { MAX_RECEIVE_MESSAGE_BYTES: String(LIMIT) },
      // The client's own limits must not hide the server's.
      clientOptions: { "grpc.max_send_message_length": -1 },
    });
    address = server.address;
    client = server.client;
    session = http2Connect(`http://${address}`);
    stop = () => server.stop();
  });
  afterAll(async () => {
    session.close();
    await stop();
  });

  const code = (p: Promise<unknown>) =>
    p.then(
      () => "OK",
      (e: { code: number }) => Status[e.code],
    );

  describe("B1 message size", () => {
    it("accepts a unary message exactly at the limit and refuses it 10 bytes over", async () => {
      expect(await code(client.methods.createUser(requestOfSize(LIMIT)))).toBe("OK");
      expect(await code(client.methods.createUser(requestOfSize(LIMIT + 10)))).toBe("RESOURCE_EXHAUSTED");
    });

    it("refuses an oversized first or later message of a client stream", async () => {
      expect(await code(client.methods.createUsers([requestOfSize(LIMIT), requestOfSize(LIMIT)]))).toBe("OK");
      expect(await code(client.methods.createUsers([requestOfSize(LIMIT + 10)]))).toBe("RESOURCE_EXHAUSTED");
      expect(await code(client.methods.createUsers([requestOfSize(100), requestOfSize(LIMIT + 10)]))).toBe(
        "RESOURCE_EXHAUSTED",
      );
    });

    it("refuses an oversized first or later message of a bidi stream", async () => {
      const chat = (sizes: number[]) =>
        (async () => {
          for await (const _ of client.methods.chat(sizes.map((n) => ({ text: "t".repeat(n - 3) })))) {
            // drain
          }
        })();
      expect(await code(chat([LIMIT, LIMIT]))).toBe("OK");
      expect(await code(chat([LIMIT + 10]))).toBe("RESOURCE_EXHAUSTED");
      expect(await code(chat([50, LIMIT + 10]))).toBe("RESOURCE_EXHAUSTED");
    });
  });

  describe("B2 compression", () => {
    it("refuses a small gzip body that inflates past the limit, and stays up", async () => {
      const bomb = gzipSync(
        toBinary(CreateUserRequestSchema, create(CreateUserRequestSchema, { username: "a".repeat(1_000_000) })),
      );
      expect(bomb.length).toBeLessThan(LIMIT);
      const answer = await rawCall(session, "/user.UserService/CreateUser", frame(bomb, true), {
        "grpc-encoding": "gzip",
      });
      expect(answer.grpcStatus).toBe(String(Status.RESOURCE_EXHAUSTED));
      expect(await code(client.methods.getUser({ id: "still-up" }))).toBe("OK");
    });

    it("refuses a ~130 KB gzip message inflating to 128 MiB at the 4 MiB limit, without inflating it all", async () => {
      // A server of its own, in a process of its own, with the default receive limit: its
      // resident memory is read from /proc, where the test's own allocations do not show.
      const inflated = 128 * 1024 * 1024;
      const bomb = await gzipBomb(inflated);
      expect(bomb.length).toBeLessThan(200 * 1024);
      const server = await startUserServiceProcess(runtime);
      const bombSession = http2Connect(`http://${server.target}`);
      try {
        const call = (body: Buffer) =>
          rawCall(bombSession, "/user.UserService/CreateUser", frame(body, true), { "grpc-encoding": "gzip" });
        // A gzip call that is fine first, so the measured growth is not zlib's and the
        // handlers' first use.
        const small = create(CreateUserRequestSchema, { username: "ann" });
        expect((await call(gzipSync(toBinary(CreateUserRequestSchema, small)))).grpcStatus).toBe("0");
        const baseline = server.memory();
        server.resetPeak();
        // Four bombs, two at a time on one connection: inflated whole they would be 512 MiB.
        const answers = [
          ...(await Promise.all([call(bomb), call(bomb)])),
          ...(await Promise.all([call(bomb), call(bomb)])),
        ];
        const after = server.memory();
        const growthMib = after.peak - baseline.rss;
        console.log(
          `${runtime}: 4 gzip bombs of ${(bomb.length / 1024).toFixed(0)} KiB (${inflated / 1024 / 1024} MiB inflated):` +
            ` RSS ${baseline.rss.toFixed(0)} MiB before, peak ${after.peak.toFixed(0)} MiB (+${growthMib.toFixed(1)} MiB)`,
        );
        for (const answer of answers) {
          expect(answer.grpcStatus).toBe(String(Status.RESOURCE_EXHAUSTED));
          // grpc-js: "Received message that decompresses to a size larger than 4194304";
          // connect: "message is larger than configured readMaxBytes 4194304 after decompression".
          expect(decodeURIComponent(answer.grpcMessage ?? "")).toMatch(/larger than .*\b4194304\b/);
        }
        expect(growthMib).toBeLessThan(64);
        const health = new HealthClient(server.target);
        try {
          expect(await health.check("")).toBe("SERVING");
        } finally {
          health.close();
        }
        expect(server.child.exitCode).toBeNull();
      } finally {
        bombSession.close();
        await server.stop();
      }
    }, 60_000);

    it("answers an unknown grpc-encoding with UNIMPLEMENTED", async () => {
      const payload = toBinary(CreateUserRequestSchema, create(CreateUserRequestSchema, { username: "x" }));
      const answer = await rawCall(session, "/user.UserService/CreateUser", frame(Buffer.from(payload), true), {
        "grpc-encoding": "snappy-9000",
      });
      expect(answer.grpcStatus).toBe(String(Status.UNIMPLEMENTED));
    });
  });

  describe("B3 malformed framing", () => {
    const payload = Buffer.from(toBinary(CreateUserRequestSchema, create(CreateUserRequestSchema, { username: "x" })));
    it.each([
      ["a truncated length prefix", Buffer.from([0, 0, 0])],
      ["a length larger than the body", frame(payload, false, payload.length + 100)],
      ["two messages on a unary call", Buffer.concat([frame(payload), frame(payload)])],
    ])("answers %s with a gRPC error, never a crash", async (_what, body) => {
      const before = handlerRuns;
      const answer = await rawCall(session, "/user.UserService/CreateUser", body);
      expect(answer.grpcStatus).toBeDefined();
      expect(answer.grpcStatus).not.toBe("0");
      expect(handlerRuns).toBe(before);
    });

    it("answers the compressed flag without an encoding with INTERNAL, without a crash", async () => {
      // The gRPC spec calls it a protocol error: connect-node answers INTERNAL, and so does grpc-js
      // with the project's patch (patches/), which would otherwise decode the bytes as identity.
      const answer = await rawCall(session, "/user.UserService/CreateUser", frame(payload, true));
      expect(answer.grpcStatus).toBe(String(Status.INTERNAL));
    });

    it("answers a wrong content-type with an HTTP error and no handler call", async () => {
      const before = handlerRuns;
      const answer = await rawCall(session, "/user.UserService/CreateUser", frame(payload), {
        "content-type": "text/plain",
      });
      expect(answer.grpcStatus === undefined ? answer.httpStatus >= 400 : answer.grpcStatus !== "0").toBe(true);
      expect(handlerRuns).toBe(before);
    });

    it("is still SERVING afterwards", async () => {
      const health = new HealthClient(address);
      expect(await health.check("")).toBe("SERVING");
      health.close();
    });
  });

  describe("B7 unknown methods and odd paths", () => {
    it("answers an unknown method or service with UNIMPLEMENTED", async () => {
      const payload = frame(Buffer.alloc(0));
      expect((await rawCall(session, "/user.UserService/NoSuchMethod", payload)).grpcStatus).toBe(
        String(Status.UNIMPLEMENTED),
      );
      expect((await rawCall(session, "/no.Such/Method", payload)).grpcStatus).toBe(String(Status.UNIMPLEMENTED));
    });

    it.each([
      "//user.UserService/GetUser",
      "/user.UserService%2FGetUser",
      "/user.UserService/GetUser/",
      "/USER.USERSERVICE/GETUSER",
    ])("never lets %s reach a handler", async (path) => {
      const before = handlerRuns;
      const answer = await rawCall(session, path, frame(Buffer.alloc(0)));
      expect(answer.grpcStatus ?? String(answer.httpStatus)).not.toBe("0");
      expect(handlerRuns).toBe(before);
    });
  });
});
