import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import { InvalidArgumentError, RpcStatusError } from "@polyrpc/server-kit";
import type { Empty, EmptySchema } from "./gen/grpc/testing/empty_pb.js";
import {
  PayloadType,
  type EchoStatus,
  type PayloadSchema,
  type SimpleRequest,
  type SimpleResponseSchema,
  type StreamingInputCallRequest,
  type StreamingInputCallResponseSchema,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponseSchema,
} from "./gen/grpc/testing/messages_pb.js";

/** What the TestService needs of a call; the handler contexts of both runtimes have it. */
export interface TestCall {
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
}

export interface TestServiceOptions<C extends TestCall> {
  /** Runs first in every call: the echo of the `x-grpc-test-echo-*` request metadata. */
  onCall?: (call: C) => void;
}

type EmptyInit = MessageInitShape<typeof EmptySchema>;
type SimpleResponseInit = MessageInitShape<typeof SimpleResponseSchema>;
type StreamingInputCallResponseInit = MessageInitShape<typeof StreamingInputCallResponseSchema>;
type StreamingOutputCallResponseInit = MessageInitShape<typeof StreamingOutputCallResponseSchema>;

/** A payload of `size` zero bytes; COMPRESSABLE is the only type the interop protos still define. */
function newPayload(type: PayloadType, size: number): MessageInitShape<typeof PayloadSchema> {
  if (type !== PayloadType.COMPRESSABLE) {
    throw new InvalidArgumentError(`payload type ${type} is not supported; use COMPRESSABLE`, "response_type");
  }
  if (size < 0) throw new InvalidArgumentError(`response size ${size} is negative`, "response_size");
  return { type, body: new Uint8Array(size) };
}

/** Ends the call with the status the client asked for in `response_status`, unless it is OK. */
function throwRequestedStatus(status: EchoStatus | undefined): void {
  if (status && status.code !== 0) throw new RpcStatusError(status.code as Status, status.message);
}

/**
 * Waits `ms`, or rejects with the signal's reason when the call ends first: each runtime sets a
 * reason it maps to CANCELLED or DEADLINE_EXCEEDED, where timers' own AbortError would be INTERNAL.
 */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  }
}

/** The responses one StreamingOutputCallRequest asks for, each after its `interval_us`. */
async function* respond(
  request: StreamingOutputCallRequest,
  signal: AbortSignal,
): AsyncGenerator<StreamingOutputCallResponseInit> {
  for (const parameters of request.responseParameters) {
    if (parameters.intervalUs > 0) await pause(parameters.intervalUs / 1000, signal);
    yield { payload: newPayload(request.responseType, parameters.size) };
  }
}

function unaryCall(request: SimpleRequest): SimpleResponseInit {
  throwRequestedStatus(request.responseStatus);
  // response_compressed and expect_compressed are not honoured: neither runtime tells a handler
  // whether a request arrived compressed or lets it compress one response. The compression cases
  // are not among those polyrpc runs (see README).
  return { payload: newPayload(request.responseType, request.responseSize) };
}

/**
 * `grpc.testing.TestService` as the official interop test descriptions specify it
 * (https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md#server), written once
 * for both runtimes: `C` is the runtime's handler context, and the result fits that runtime's
 * service implementation type.
 */
export function createTestService<C extends TestCall>(options: TestServiceOptions<C> = {}) {
  const onCall = options.onCall ?? (() => {});
  return {
    async emptyCall(_request: Empty, call: C): Promise<EmptyInit> {
      onCall(call);
      return {};
    },

    async unaryCall(request: SimpleRequest, call: C): Promise<SimpleResponseInit> {
      onCall(call);
      return unaryCall(request);
    },

    /** UnaryCall that proxies may cache; servers answer it like UnaryCall. */
    async cacheableUnaryCall(request: SimpleRequest, call: C): Promise<SimpleResponseInit> {
      onCall(call);
      return unaryCall(request);
    },

    async *streamingOutputCall(
      request: StreamingOutputCallRequest,
      call: C,
    ): AsyncGenerator<StreamingOutputCallResponseInit> {
      onCall(call);
      throwRequestedStatus(request.responseStatus);
      yield* respond(request, call.signal);
    },

    /** Answers with the total size of the payloads the client sent. */
    async streamingInputCall(
      requests: AsyncIterable<StreamingInputCallRequest>,
      call: C,
    ): Promise<StreamingInputCallResponseInit> {
      onCall(call);
      let aggregatedPayloadSize = 0;
      for await (const request of requests) aggregatedPayloadSize += request.payload?.body.length ?? 0;
      return { aggregatedPayloadSize };
    },

    /** Answers each request as it arrives. */
    async *fullDuplexCall(
      requests: AsyncIterable<StreamingOutputCallRequest>,
      call: C,
    ): AsyncGenerator<StreamingOutputCallResponseInit> {
      onCall(call);
      for await (const request of requests) {
        throwRequestedStatus(request.responseStatus);
        yield* respond(request, call.signal);
      }
    },

    /** Reads every request first, then answers them in order. */
    async *halfDuplexCall(
      requests: AsyncIterable<StreamingOutputCallRequest>,
      call: C,
    ): AsyncGenerator<StreamingOutputCallResponseInit> {
      onCall(call);
      const received: StreamingOutputCallRequest[] = [];
      for await (const request of requests) received.push(request);
      for (const request of received) {
        throwRequestedStatus(request.responseStatus);
        yield* respond(request, call.signal);
      }
    },

    /** The method every server must leave unimplemented (the unimplemented_method case). */
    async unimplementedCall(_request: Empty, call: C): Promise<EmptyInit> {
      onCall(call);
      throw new RpcStatusError(Status.UNIMPLEMENTED, "grpc.testing.TestService/UnimplementedCall is not implemented");
    },
  };
}
