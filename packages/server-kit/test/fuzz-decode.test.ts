import { Script, createContext } from "node:vm";
import { toBinary, type DescMethod, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMethodSerializationLookup } from "@connectrpc/connect/protocol";
import { status as Status } from "@grpc/grpc-js";
import * as proto from "@polyrpc/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { grpcMethodPath, grpcServiceDefinition } from "@polyrpc/grpc-client";
import { createLogger } from "../src/logger.js";
import { toRpcStatus } from "../src/rpc-status.js";
import { exportedServices, protobufFuzz } from "@polyrpc/testing";
import { createRequestValidator } from "../src/validation/request-validator.js";

/**
 * B4 at the decode step: random bytes and mutated valid encodings of every request type of every
 * service the proto package exports go through what each runtime does with a received message,
 * and the outcome is always one a server answers with INTERNAL (undecodable), RESOURCE_EXHAUSTED
 * (too large) or INVALID_ARGUMENT (decoded but against the rules), or the message, the same on
 * both runtimes. The live servers get the same treatment in tests/e2e/test/fuzz.test.ts.
 */

/** Recorded so that a failure replays: fast-check prints the seed and path of a counterexample. */
const SEED = 0x0b4f_0220;
const RUNS = 200;
/** Runs of the round-trip control, which only guards the fuzz itself from being vacuous. */
const CONTROL_RUNS = 50;
/** The receive limit the connect path runs with here (small, so that some inputs are over it). */
const READ_MAX_BYTES = 4096;
/** A decode that runs longer than this is a hang; every input here decodes in microseconds. */
const DECODE_DEADLINE_MS = 5000;

const fuzz = protobufFuzz(fc);
const validator = createRequestValidator();
const log = createLogger({ name: "fuzz-decode", level: "silent" });

const services = exportedServices(proto);
const methods = services.flatMap((service) => {
  const definition = grpcServiceDefinition(service);
  return service.methods.map((method) => ({
    path: grpcMethodPath(method),
    method,
    // What grpc-js calls on every received message of this method (server-interceptors.js).
    grpcJs: definition[method.localName]!,
    // What connect-node calls on every received binary message: connectNodeAdapter builds this
    // lookup with the readMaxBytes/writeMaxBytes the kit's connect server passes, no binary options.
    connect: createMethodSerializationLookup(method, undefined, undefined, {
      readMaxBytes: READ_MAX_BYTES,
      writeMaxBytes: READ_MAX_BYTES,
    }).getI(true),
  }));
});
type Method = (typeof methods)[number];

class DecodeHang extends Error {}

// Decoding is synchronous, so a timer could never interrupt a decoder stuck in a loop; a vm
// script's timeout can (V8 terminates whatever runs, the decoder included).
const sandbox = createContext({ task: undefined as (() => unknown) | undefined, result: undefined as unknown });
const runTask = new Script("result = task()");

/** Runs `task`; throws DecodeHang if it has not returned within DECODE_DEADLINE_MS. */
function withinDeadline<T>(task: () => T): T {
  sandbox.task = task;
  try {
    runTask.runInContext(sandbox, { timeout: DECODE_DEADLINE_MS });
    return sandbox.result as T;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
      throw new DecodeHang(`decoding did not return within ${DECODE_DEADLINE_MS} ms`);
    }
    throw err;
  } finally {
    sandbox.task = undefined;
    sandbox.result = undefined;
  }
}

/**
 * The errors protobuf-es's reader throws for bytes that are not a message: a plain Error (bad tag,
 * wire type, varint, end group, recursion limit), RangeError "premature EOF", and the TypeError of
 * its fatal UTF-8 decoder for a string field that is not UTF-8. Anything else (a TypeError from a
 * property of undefined, a stack overflow) would be a bug in the decoder, not a refusal.
 */
function isDecoderRefusal(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.constructor === Error) return true;
  if (err instanceof RangeError) return err.message === "premature EOF";
  if (err instanceof TypeError) return (err as { code?: unknown }).code === "ERR_ENCODING_INVALID_ENCODED_DATA";
  return false;
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}` : `a thrown ${typeof err}: ${String(err)}`;
}

interface Outcome {
  /** The status the call would end with at this step (OK: the handler gets the message). */
  code: Status;
  /** The decoded message, when decoding succeeded. */
  message?: Message;
}

/** The kit's validation hook, as it runs on the decoded message: OK, or INVALID_ARGUMENT and nothing else. */
function validated({ method, path }: Method, message: Message): Outcome {
  try {
    validator.validate(method.input, message as never);
    return { code: Status.OK, message };
  } catch (err) {
    const { code } = toRpcStatus(err, log, path);
    expect(Status[code], `validation threw ${describeError(err)}`).toBe("INVALID_ARGUMENT");
    return { code, message };
  }
}

function expectDecoded(method: DescMethod, message: unknown): asserts message is Message {
  expect((message as Message).$typeName).toBe(method.input.typeName);
}

/** grpc-js: the definition's deserializer; grpc-js answers INTERNAL for anything it throws. */
function grpcJsOutcome(m: Method, bytes: Uint8Array): Outcome {
  let message: unknown;
  try {
    message = withinDeadline(() => m.grpcJs.requestDeserialize(Buffer.from(bytes)));
  } catch (err) {
    if (err instanceof DecodeHang) throw err;
    expect(isDecoderRefusal(err), `the deserializer threw ${describeError(err)}`).toBe(true);
    return { code: Status.INTERNAL };
  }
  expectDecoded(m.method, message);
  return validated(m, message);
}

/** connect-node: its binary serialization, which refuses with a ConnectError carrying the code. */
function connectOutcome(m: Method, bytes: Uint8Array): Outcome {
  let message: unknown;
  try {
    message = withinDeadline(() => m.connect.parse(bytes));
  } catch (err) {
    if (err instanceof DecodeHang) throw err;
    expect(err, describeError(err)).toBeInstanceOf(ConnectError);
    const code = (err as ConnectError).code;
    expect([Code.Internal, Code.ResourceExhausted], `${Code[code]}: ${(err as ConnectError).rawMessage}`).toContain(
      code,
    );
    // gRPC and connect share code numbers.
    return { code: code as number as Status };
  }
  expectDecoded(m.method, message);
  return validated(m, message);
}

/** Both runtimes end at an allowed code, and the same one unless the bytes are over the size limit. */
function checkBothRuntimes(m: Method, bytes: Uint8Array): void {
  const grpcJs = grpcJsOutcome(m, bytes);
  const connect = connectOutcome(m, bytes);
  if (bytes.length > READ_MAX_BYTES) {
    expect(Status[connect.code]).toBe("RESOURCE_EXHAUSTED");
    return;
  }
  expect(Status[connect.code], "connect agrees with grpc-js").toBe(Status[grpcJs.code]);
  if (grpcJs.message && connect.message) {
    expect(Buffer.from(toBinary(m.method.input, connect.message))).toEqual(
      Buffer.from(toBinary(m.method.input, grpcJs.message)),
    );
  }
}

describe("the services fuzzed", () => {
  it("are every service the proto package exports, found by walking its exports", () => {
    const names = services.map((s) => s.typeName);
    for (const file of proto.protoFiles) for (const service of file.services) expect(names).toContain(service.typeName);
    expect(names).toEqual(
      expect.arrayContaining([
        proto.UserService.typeName,
        proto.chatV1.ChatService.typeName,
        proto.healthV1.Health.typeName,
        proto.reflectionV1.ServerReflection.typeName,
        proto.reflectionV1alpha.ServerReflection.typeName,
      ]),
    );
  });
});

describe.each(methods)("decoding requests of $path", (m) => {
  const encode = (message: Message) => m.grpcJs.requestSerialize(message);

  it("answers random bytes only with INTERNAL, RESOURCE_EXHAUSTED, INVALID_ARGUMENT or the message, on both runtimes", () => {
    fc.assert(
      fc.property(fuzz.randomBytes(m.method.input), (bytes) => checkBothRuntimes(m, bytes)),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it("answers mutated valid encodings only with INTERNAL, RESOURCE_EXHAUSTED, INVALID_ARGUMENT or the message, on both runtimes", () => {
    fc.assert(
      fc.property(fuzz.mutatedEncoding(m.method.input, encode), (bytes) => checkBothRuntimes(m, bytes)),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it("decodes the kit's encoding of any message back to the same bytes on both runtimes (the control)", () => {
    fc.assert(
      fc.property(fuzz.message(m.method.input), (message) => {
        const bytes = encode(message);
        // The kit's fast encoder writes what protobuf-es's toBinary writes.
        expect(bytes).toEqual(Buffer.from(toBinary(m.method.input, message)));
        for (const outcome of [grpcJsOutcome(m, bytes), connectOutcome(m, bytes)]) {
          expect(outcome.message).toBeDefined();
          expect(Buffer.from(toBinary(m.method.input, outcome.message!))).toEqual(bytes);
        }
      }),
      { seed: SEED, numRuns: CONTROL_RUNS },
    );
  });
});
