import { connect as http2Connect, constants as http2Constants, type ClientHttp2Session } from "node:http2";
import { fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import * as proto from "@polyrpc/proto";
import { InvalidArgumentError, createRequestValidator } from "@polyrpc/server-kit";
import { grpcMethodPath } from "@polyrpc/grpc-client";
import { exportedServices, HealthClient, protobufFuzz, ReflectionClient } from "@polyrpc/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, startChatApp, startUserService, type ServiceProcess } from "./processes.js";

/**
 * B4 against the live servers: the user service (grpc-js) and the chat app (connect-node), run as
 * processes, get raw gRPC frames with random bytes, mutated valid encodings and valid encodings on
 * every method they serve (the services their reflection lists, plus reflection itself), a few
 * frames then the end of the stream on the streaming ones. What each call may end with is worked
 * out from its frames, decoded and validated here as the server does it:
 *
 * - a frame over the receive limit: RESOURCE_EXHAUSTED; one that does not decode: INTERNAL; one
 *   that decodes but breaks the protos' rules (on the apps' own services, which run the kit's
 *   validation hook): INVALID_ARGUMENT. A runtime decodes ahead of its handler and reads frame
 *   lengths ahead of decoding, so any of these codes up to the first undecodable frame is allowed,
 *   and RESOURCE_EXHAUSTED for an oversized frame after it. (On grpc-js, health and reflection
 *   decode with protobufjs, which takes some frames protobuf-es refuses: see refusalOf.)
 * - if the handler may have seen a valid message (every frame valid, or on a streaming request a
 *   valid frame before the first bad one): also whatever the handler answers a valid request
 *   with (OK, NOT_FOUND, DEADLINE_EXCEEDED for a stream that outlives its grpc-timeout, ...),
 *   except INTERNAL, UNKNOWN and UNIMPLEMENTED, which would be a handler failing on a valid request.
 *
 * Every call must end within CALL_DEADLINE_MS, and afterwards both processes are alive and SERVING.
 * The unit side of B4 is packages/server-kit/test/fuzz-decode.test.ts.
 */

/** Recorded so that a failure replays: a failure names the seed and the path of its run. */
const SEED = 0x0b4e_2e00;
/** Runs per method; each run is a batch of up to CALLS_PER_RUN concurrent calls. */
const RUNS = 6;
const CALLS_PER_RUN = 12;
/** The receive limit the processes run with here, small so that some frames are over it. */
const MAX_RECEIVE_MESSAGE_BYTES = 4096;
/** Sent on calls with a streaming response: a valid Subscribe or Watch would otherwise stream forever. */
const STREAM_TIMEOUT = "2S";
/** A call without a status by then has hung. */
const CALL_DEADLINE_MS = 15_000;

const fuzz = protobufFuzz(fc);
const validator = createRequestValidator();
const describedServices = new Map(exportedServices(proto).map((s) => [s.typeName, s]));
/** The services the apps serve through the kit's call pipeline, and so with request validation. */
const validatedServices = new Set(proto.apiFiles.flatMap((file) => file.services.map((s) => s.typeName)));
/** Always served by the kit, though reflection does not list itself. */
const REFLECTION = [proto.reflectionV1.ServerReflection, proto.reflectionV1alpha.ServerReflection];

const HANDLER_FAILURES = new Set<number>([Status.UNKNOWN, Status.UNIMPLEMENTED, Status.INTERNAL]);
/** What a handler may answer a valid request with. */
const HANDLER_CODES = Object.values(Status).filter(
  (code): code is Status => typeof code === "number" && !HANDLER_FAILURES.has(code),
);

const env = {
  DATABASE_PATH: ":memory:",
  MAX_RECEIVE_MESSAGE_BYTES: String(MAX_RECEIVE_MESSAGE_BYTES),
  // Off: every call here comes from one (anonymous) subject, and a RESOURCE_EXHAUSTED for the
  // rate would answer calls before their frames are read. S4 tests the limits.
  RATE_LIMIT_UNARY_PER_S: "0",
  RATE_LIMIT_STREAMS_PER_S: "0",
  RATE_LIMIT_MESSAGES_PER_S: "0",
};

const requestStreams = (method: DescMethod) =>
  method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
const responseStreams = (method: DescMethod) =>
  method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";

/** How a server decodes the requests of a service. */
type Decoder = "protobuf-es" | "protobufjs";

/**
 * The status one frame ends a call with, as a server using `decoder` decides it, or undefined if
 * it is a valid request. protobufjs (what grpc-health-check and @grpc/reflection decode with on
 * grpc-js) is laxer than protobuf-es (it takes strings that are not UTF-8, say): a frame
 * protobuf-es refuses may still reach its handler, which is "unknown" here.
 */
function refusalOf(
  service: DescService,
  schema: DescMessage,
  frame: Uint8Array,
  decoder: Decoder,
): Status | "unknown" | undefined {
  if (frame.length > MAX_RECEIVE_MESSAGE_BYTES) return Status.RESOURCE_EXHAUSTED;
  let message;
  try {
    message = fromBinary(schema, frame);
  } catch {
    return decoder === "protobuf-es" ? Status.INTERNAL : "unknown";
  }
  if (!validatedServices.has(service.typeName)) return undefined;
  try {
    validator.validate(schema, message);
    return undefined;
  } catch (err) {
    return err instanceof InvalidArgumentError ? Status.INVALID_ARGUMENT : Status.INTERNAL;
  }
}

/** The codes a call with these frames may end with (see the comment at the top). */
function allowedCodes(
  service: DescService,
  method: DescMethod,
  frames: readonly Uint8Array[],
  decoder: Decoder,
): Set<Status> {
  const allowed = new Set<Status>();
  let firstBad: number | undefined;
  let undecodable = false;
  for (const [i, frame] of frames.entries()) {
    const refusal = refusalOf(service, method.input, frame, decoder);
    if (refusal === undefined) continue;
    // Past a frame that does not decode, only the framing still looks at the frames: their sizes.
    if (undecodable && refusal !== Status.RESOURCE_EXHAUSTED) continue;
    firstBad ??= i;
    if (refusal === "unknown") {
      allowed.add(Status.INTERNAL);
      for (const code of HANDLER_CODES) allowed.add(code);
      continue;
    }
    allowed.add(refusal);
    // The framing reads each length as the bytes arrive, ahead of decoding: an oversized frame
    // can end the call before an earlier one is decoded, and nothing after it is read.
    if (refusal === Status.RESOURCE_EXHAUSTED) break;
    if (refusal === Status.INTERNAL) undecodable = true;
  }
  const handlerMayAnswer = firstBad === undefined || (requestStreams(method) && firstBad > 0);
  if (handlerMayAnswer) for (const code of HANDLER_CODES) allowed.add(code);
  return allowed;
}

/** One gRPC length-prefixed message, uncompressed. */
function envelope(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

interface CallResult {
  code: number;
  message: string;
}

/** A percent-encoded grpc-message as text (as it came, if it is not valid percent-encoding). */
function readable(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

/** Sends `frames` as one call on `session`, then ends the stream; resolves with the grpc-status. */
function rawCall(
  session: ClientHttp2Session,
  path: string,
  frames: readonly Uint8Array[],
  headers: Record<string, string>,
): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new Error(`${path}: no grpc-status within ${CALL_DEADLINE_MS} ms (a hang)`)));
      stream.close(http2Constants.NGHTTP2_CANCEL);
    }, CALL_DEADLINE_MS);
    const onHeaders = (h: Record<string, unknown>) => {
      const code = h["grpc-status"];
      if (code === undefined) return;
      settle(() => resolve({ code: Number(code), message: readable(String(h["grpc-message"] ?? "")) }));
    };
    stream.on("response", (h) => {
      if (h[":status"] !== 200) settle(() => reject(new Error(`${path}: HTTP ${h[":status"]}, not a gRPC answer`)));
      else onHeaders(h);
    });
    stream.on("trailers", onHeaders);
    stream.on("data", () => {});
    // After the status (a call refused at its first frame may be reset then), errors change nothing.
    stream.on("error", (err) => settle(() => reject(new Error(`${path}: ${err.message}`))));
    stream.on("close", () =>
      settle(() => reject(new Error(`${path}: stream closed (RST ${stream.rstCode}) without a grpc-status`))),
    );
    for (const frame of frames) stream.write(envelope(frame));
    stream.end();
  });
}

/** A frame in hex, whole unless it is long. */
function hex(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.subarray(0, 256)).toString("hex");
  return bytes.length > 256 ? `${text}... (${bytes.length} bytes)` : text;
}

/** Fuzzes one method: RUNS batches of concurrent calls, each batch on a connection of its own. */
async function fuzzMethod(target: string, service: DescService, method: DescMethod, decoder: Decoder): Promise<void> {
  const path = grpcMethodPath(method);
  const schema = method.input;
  const frame = fc.oneof(
    fuzz.payload(schema).map((p) => p.bytes),
    fuzz.message(schema).map((m) => toBinary(schema, m)),
  );
  const frames = requestStreams(method) ? fc.array(frame, { minLength: 1, maxLength: 4 }) : frame.map((f) => [f]);
  const headers: Record<string, string> = responseStreams(method) ? { "grpc-timeout": STREAM_TIMEOUT } : {};
  const details = await fc.check(
    fc.asyncProperty(fc.array(frames, { minLength: 1, maxLength: CALLS_PER_RUN }), async (calls) => {
      const session = http2Connect(`http://${target}`);
      session.on("error", () => {});
      try {
        await Promise.all(
          calls.map(async (sent) => {
            const allowed = allowedCodes(service, method, sent, decoder);
            const described = `frames [${sent.map(hex).join(", ")}]`;
            const result = await rawCall(session, path, sent, headers).catch((err: Error) => {
              throw new Error(`${err.message}, for ${described}`);
            });
            if (!allowed.has(result.code)) {
              throw new Error(
                `${path} answered ${Status[result.code]} (${result.message}) to ${described}; ` +
                  `allowed: ${[...allowed].map((c) => Status[c]).join(", ")}`,
              );
            }
          }),
        );
      } finally {
        session.close();
      }
    }),
    // No shrinking: against live servers each step costs calls (and a hang its whole deadline),
    // and the error already names the one call and its frames.
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  if (details.failed) {
    // The error names the call and its frames; the seed and path replay the run.
    const cause =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${cause}\n  (seed ${details.seed}, path "${details.counterexamplePath}")`);
  }
}

/** grpc.health.v1 and reflection on grpc-js come from grpc-health-check and @grpc/reflection, which decode with protobufjs. */
const GRPC_JS_LIBRARY_SERVICES = new Set([proto.healthV1.Health.typeName, ...REFLECTION.map((s) => s.typeName)]);

describe.each([
  { name: "the user service (grpc-js)", kind: "user" as const },
  { name: "the chat app (connect-node)", kind: "chat" as const },
])("fuzzed frames against $name", ({ kind }) => {
  const decoderOf = (service: DescService): Decoder =>
    kind === "user" && GRPC_JS_LIBRARY_SERVICES.has(service.typeName) ? "protobufjs" : "protobuf-es";
  let userService: ServiceProcess;
  let server: ServiceProcess;
  let served: DescService[] = [];

  beforeAll(async () => {
    userService = await startUserService(env);
    server = kind === "user" ? userService : await startChatApp({ ...env, USER_SERVICE_ADDRESS: userService.target });
  });
  afterAll(async () => {
    await server?.stop();
    await userService?.stop();
    killAll();
  });

  it("serves only services the proto package describes", async () => {
    const reflection = new ReflectionClient(server.target);
    try {
      const names = await reflection.listServices();
      expect(names.length).toBeGreaterThan(1);
      for (const name of names) expect(describedServices.has(name), `${name} is not in @polyrpc/proto`).toBe(true);
      served = [...names.map((name) => describedServices.get(name)!), ...REFLECTION];
    } finally {
      reflection.close();
    }
  });

  it("answers random and mutated frames on every method only with the codes they call for, without hanging", async () => {
    expect(served.length).toBeGreaterThan(0);
    const methods = served.flatMap((service) => service.methods.map((method) => ({ service, method })));
    const results = await Promise.allSettled(
      methods.map(({ service, method }) => fuzzMethod(server.target, service, method, decoderOf(service))),
    );
    const failures = results.flatMap((r) => (r.status === "rejected" ? [String((r.reason as Error).message)] : []));
    expect(failures, failures.join("\n\n")).toEqual([]);
  });

  it("is still alive and SERVING afterwards, with no handler failure in its log", async () => {
    expect(server.child.exitCode).toBeNull();
    expect(server.child.signalCode).toBeNull();
    const health = new HealthClient(server.target);
    try {
      expect(await health.check("")).toBe("SERVING");
    } finally {
      health.close();
    }
    expect(server.output()).not.toMatch(/unhandled error in handler|uncaught/i);
  });
});
