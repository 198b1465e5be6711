import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import type { CallContext } from "@polyrpc/server-kit";
import {
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  ConformancePayload_RequestInfoSchema,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
  type BidiStreamRequest,
  type BidiStreamResponseSchema,
  type ClientStreamRequest,
  type ClientStreamResponseSchema,
  type ConformancePayload_ConnectGetInfoSchema,
  type ConformancePayloadSchema,
  type Error as ConformanceError,
  type Header,
  type HeaderSchema,
  type IdempotentUnaryRequest,
  type IdempotentUnaryResponseSchema,
  type ServerStreamRequest,
  type ServerStreamResponseSchema,
  type StreamResponseDefinition,
  type UnaryRequest,
  type UnaryResponseDefinition,
  type UnaryResponseSchema,
} from "./gen/connectrpc/conformance/v1/service_pb.js";

export type HeaderInit = MessageInitShape<typeof HeaderSchema>;
export type ConnectGetInfoInit = MessageInitShape<typeof ConformancePayload_ConnectGetInfoSchema>;
type PayloadInit = MessageInitShape<typeof ConformancePayloadSchema>;
type RequestInfoInit = MessageInitShape<typeof ConformancePayload_RequestInfoSchema>;

/**
 * What differs between the runtimes for the conformance service (see
 * grpc-js-conformance-service.ts and connect-conformance-service.ts); the rest of a call is the
 * kit's CallContext, the same on both.
 */
export interface ConformanceRuntime {
  /** The query parameters of a Connect GET request; undefined for any other request. */
  connectGetInfo(call: CallContext): ConnectGetInfoInit | undefined;
  /** What to throw for `error`: its code, message and details (google.protobuf.Any) on the wire. */
  toError(call: CallContext, error: ConformanceError, details: readonly Any[]): Error;
}

/** The request headers as handlers see them: fetch's Headers joins repeated values with ", ". */
function requestHeaders(call: CallContext): HeaderInit[] {
  const headers: HeaderInit[] = [];
  call.requestHeader.forEach((value, name) => headers.push({ name, value: [value] }));
  return headers;
}

function timeoutMs(call: CallContext): bigint | undefined {
  const timeout = call.timeoutMs();
  return timeout === undefined ? undefined : BigInt(Math.max(0, Math.round(timeout)));
}

/**
 * Adds response headers or trailers. Both runtimes send a stream's headers with its first message
 * (or with the status), which the suite accepts.
 */
function appendHeaders(into: Headers, headers: readonly Header[]): void {
  for (const { name, value } of headers) for (const v of value) into.append(name, v);
}

/**
 * Waits `ms`, or rejects with the signal's reason when the call ends first (each runtime maps its
 * reason to CANCELLED or DEADLINE_EXCEEDED; timers' own AbortError would be INTERNAL).
 */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  }
}

/**
 * `connectrpc.conformance.v1.ConformanceService` as its service.proto and the conformance
 * guide for servers (docs/testing_servers.md of connectrpc/conformance) describe it, following
 * the reference server's choices where the text leaves room: written once for both runtimes.
 * `Unimplemented` is left out on purpose: the runtime itself must answer it UNIMPLEMENTED.
 */
export function createConformanceService(runtime: ConformanceRuntime) {
  function requestInfo(call: CallContext, requests: Any[]): RequestInfoInit {
    const connectGetInfo = runtime.connectGetInfo(call);
    return {
      requestHeaders: requestHeaders(call),
      timeoutMs: timeoutMs(call),
      requests,
      ...(connectGetInfo && { connectGetInfo }),
    };
  }

  /** The requested error, with the request info appended to its details when asked. */
  function requestedError(call: CallContext, error: ConformanceError, info?: RequestInfoInit): Error {
    const details = info
      ? [
          ...error.details,
          anyPack(ConformancePayload_RequestInfoSchema, create(ConformancePayload_RequestInfoSchema, info)),
        ]
      : error.details;
    return runtime.toError(call, error, details);
  }

  /** Unary and client-stream calls: one response, or the requested error. */
  async function respondOnce(
    call: CallContext,
    definition: UnaryResponseDefinition | undefined,
    requests: Any[],
  ): Promise<{ payload: PayloadInit }> {
    const info = requestInfo(call, requests);
    if (!definition) return { payload: { requestInfo: info } };
    appendHeaders(call.responseHeader, definition.responseHeaders);
    appendHeaders(call.responseTrailer, definition.responseTrailers);
    const { response } = definition;
    if (response.case === "error") throw requestedError(call, response.value, info);
    await pause(definition.responseDelayMs, call.signal);
    return { payload: { requestInfo: info, ...(response.case === "responseData" && { data: response.value }) } };
  }

  /** The rest of a stream's responses from `sent` on, then its error if it asks for one. */
  async function* finishStream(
    call: CallContext,
    definition: StreamResponseDefinition,
    sent: number,
    info: RequestInfoInit,
  ): AsyncGenerator<{ payload: PayloadInit }> {
    for (let i = sent; i < definition.responseData.length; i++) {
      await pause(definition.responseDelayMs, call.signal);
      // Only the first response carries the request info: nothing in it changes afterwards.
      yield { payload: { data: definition.responseData[i], ...(i === 0 && { requestInfo: info }) } };
    }
    if (definition.error) {
      const noneSent = definition.responseData.length === 0;
      throw requestedError(call, definition.error, noneSent ? info : undefined);
    }
  }

  return {
    async unary(request: UnaryRequest, call: CallContext): Promise<MessageInitShape<typeof UnaryResponseSchema>> {
      return respondOnce(call, request.responseDefinition, [anyPack(UnaryRequestSchema, request)]);
    },

    /** Like Unary; Connect clients send it as a GET, whose query the request info echoes. */
    async idempotentUnary(
      request: IdempotentUnaryRequest,
      call: CallContext,
    ): Promise<MessageInitShape<typeof IdempotentUnaryResponseSchema>> {
      return respondOnce(call, request.responseDefinition, [anyPack(IdempotentUnaryRequestSchema, request)]);
    },

    /** The response definition comes from the first request; every request is echoed. */
    async clientStream(
      requests: AsyncIterable<ClientStreamRequest>,
      call: CallContext,
    ): Promise<MessageInitShape<typeof ClientStreamResponseSchema>> {
      let definition: UnaryResponseDefinition | undefined;
      let first = true;
      const received: Any[] = [];
      for await (const request of requests) {
        if (first) definition = request.responseDefinition;
        first = false;
        received.push(anyPack(ClientStreamRequestSchema, request));
      }
      return respondOnce(call, definition, received);
    },

    async *serverStream(
      request: ServerStreamRequest,
      call: CallContext,
    ): AsyncGenerator<MessageInitShape<typeof ServerStreamResponseSchema>> {
      const definition = request.responseDefinition;
      if (!definition) return;
      // Headers go out before any delay, so that the client can read them at once.
      appendHeaders(call.responseHeader, definition.responseHeaders);
      appendHeaders(call.responseTrailer, definition.responseTrailers);
      yield* finishStream(call, definition, 0, requestInfo(call, [anyPack(ServerStreamRequestSchema, request)]));
    },

    /**
     * Full duplex: one response per request as each arrives (the first with the whole request
     * info, later ones with the requests since the previous response), the rest once the client
     * is done. Half duplex: every response after the client is done.
     */
    async *bidiStream(
      requests: AsyncIterable<BidiStreamRequest>,
      call: CallContext,
    ): AsyncGenerator<MessageInitShape<typeof BidiStreamResponseSchema>> {
      let definition: StreamResponseDefinition | undefined;
      let fullDuplex = false;
      let first = true;
      let sent = 0;
      let received: Any[] = [];
      for await (const request of requests) {
        received.push(anyPack(BidiStreamRequestSchema, request));
        if (first) {
          first = false;
          definition = request.responseDefinition;
          fullDuplex = request.fullDuplex;
          if (definition) {
            appendHeaders(call.responseHeader, definition.responseHeaders);
            appendHeaders(call.responseTrailer, definition.responseTrailers);
          }
        }
        if (!fullDuplex) continue;
        // No responses left to send: stop reading, and end with the error if there is one.
        if (!definition || sent >= definition.responseData.length) break;
        const info: RequestInfoInit = sent === 0 ? requestInfo(call, received) : { requests: received };
        await pause(definition.responseDelayMs, call.signal);
        yield { payload: { data: definition.responseData[sent], requestInfo: info } };
        sent++;
        received = [];
      }
      if (!definition) return;
      yield* finishStream(call, definition, sent, requestInfo(call, received));
    },
  };
}

/** The service as `createConformanceService` makes it. */
export type ConformanceServiceImpl = ReturnType<typeof createConformanceService>;
