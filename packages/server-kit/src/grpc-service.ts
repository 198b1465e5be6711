import {
  Metadata,
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ActiveCalls } from "./active-calls.js";
import { CancelledError } from "./errors.js";
import { grpcMethodPath, grpcServiceDefinition } from "./grpc-definition.js";
import type { Logger } from "./logger.js";
import { racing } from "./racing.js";
import { toRpcStatus } from "./rpc-status.js";
import { echoTestMetadata } from "./test-metadata.js";
import { CallTaps, startHooks, type CallHook, type CallInfo, type CallValueKey } from "./call-hooks.js";
import { traceIdOf } from "./observability/trace-id.js";

/** What a handler knows about the call it serves. */
export interface HandlerContext {
  /** `/package.Service/Method`. */
  readonly method: string;
  /**
   * Aborted when the client cancels, the deadline passes, or the server ends the call while
   * shutting down. Handlers pass it to anything slow (storage, other services).
   */
  readonly signal: AbortSignal;
  readonly deadline: Date | undefined;
  readonly requestMetadata: Metadata;
  /** Sent with the status at the end of the call. */
  readonly responseTrailer: Metadata;
  /**
   * Sends the response headers now (before the first message); otherwise they go out, empty,
   * with the first message or the status. Call it at most once.
   */
  sendResponseHeader(header: Metadata): void;
  readonly peer: string;
  readonly log: Logger;
  /** Values the call hooks attached (the caller's identity, say); the same accessor as connect's. */
  readonly values: { get<T>(key: CallValueKey<T>): T };
}

type Input<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never;
type Output<M> = M extends { output: infer O extends DescMessage } ? MessageInitShape<O> : never;

/** The handler shape of one method, chosen by its streaming kind. */
export type MethodImpl<M> = M extends { methodKind: "unary" }
  ? (request: Input<M>, ctx: HandlerContext) => Promise<Output<M>>
  : M extends { methodKind: "server_streaming" }
    ? (request: Input<M>, ctx: HandlerContext) => AsyncIterable<Output<M>>
    : M extends { methodKind: "client_streaming" }
      ? (requests: AsyncIterable<Input<M>>, ctx: HandlerContext) => Promise<Output<M>>
      : M extends { methodKind: "bidi_streaming" }
        ? (requests: AsyncIterable<Input<M>>, ctx: HandlerContext) => AsyncIterable<Output<M>>
        : never;

/** An implementation of every method of a service, keyed by the methods' local names. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: MethodImpl<S["method"][K]>;
};

export interface GrpcServiceOptions {
  log: Logger;
  activeCalls: ActiveCalls;
  /** Echo the gRPC interop test headers (see echoTestMetadata in test-metadata.ts). */
  echoTestMetadata?: boolean;
  /** Steps every call goes through before its handler (see call-hooks.ts). */
  hooks?: readonly CallHook[];
}

type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

interface CallScope {
  ctx: HandlerContext;
  info: CallInfo;
  taps: CallTaps;
  /** Logs the outcome, tells the taps, and unregisters the call. */
  finish(code: Status, message?: string): void;
}

/** What every call of one method shares, made once when the service is registered. */
interface ServedMethod {
  method: DescMethod;
  /** `/package.Service/Method`. */
  path: string;
  /** The service's logger with the method bound. */
  log: Logger;
}

function openScope(
  call: AnyCall,
  { method, path, log }: ServedMethod,
  options: GrpcServiceOptions,
  end: (s: StatusObject) => void,
): CallScope {
  const controller = new AbortController();
  const started = process.hrtime.bigint();
  const deadline = call.getDeadline();
  let finished = false;
  // grpc-js 1.14 emits 'cancelled' when any call's stream closes, even after its status went out;
  // only a call still running is cancelled (building the error and aborting cost ~3% per call).
  (call as ServerUnaryCall<unknown, unknown>).once("cancelled", () => {
    if (!finished) controller.abort(new CancelledError("the call was cancelled by the client or its deadline"));
  });
  const streaming = method.methodKind !== "unary";
  const untrack = options.activeCalls.track({
    streaming,
    end: (s) => {
      controller.abort(new CancelledError(s.details));
      end(s);
    },
  });
  const responseTrailer = new Metadata();
  const values = new Map<symbol, unknown>();
  const taps = new CallTaps();
  const info: CallInfo = {
    service: method.parent.typeName,
    method: method.name,
    path,
    kind: method.methodKind,
    input: method.input,
    runtime: "grpc-js",
    header: (name) => {
      const value = call.metadata.get(name)[0];
      return typeof value === "string" ? value : value?.toString("base64");
    },
    signal: controller.signal,
    deadline: deadline instanceof Date ? deadline : Number.isFinite(deadline) ? new Date(deadline) : undefined,
    set: (key, value) => void values.set(key.id, value),
    get: <T>(key: CallValueKey<T>) => (values.has(key.id) ? (values.get(key.id) as T) : key.defaultValue),
    abort: (error) => {
      const status = { ...toRpcStatus(error, log, path), metadata: responseTrailer };
      controller.abort(error);
      end(status);
    },
  };
  if (options.echoTestMetadata) {
    const header = echoTestMetadata(call.metadata, responseTrailer);
    if (header) call.sendMetadata(header);
  }
  return {
    info,
    taps,
    ctx: {
      method: path,
      signal: controller.signal,
      deadline: info.deadline,
      requestMetadata: call.metadata,
      responseTrailer,
      sendResponseHeader: (header) => call.sendMetadata(header),
      peer: call.getPeer(),
      log,
      values: { get: info.get },
    },
    finish(code, message = "") {
      finished = true;
      untrack();
      taps.end(code, message);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // One line per call, the same fields as the connect side's: {method, code, ms, traceId}.
      const entry = { code: Status[code], ms: Math.round(ms * 1000) / 1000, traceId: traceIdOf(info, info.header) };
      log.info(entry, code === Status.OK || code === Status.CANCELLED ? "call finished" : "call failed");
    },
  };
}

type WritableCall = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * The client's messages as an async iterable that throws CancelledError as soon as the call is
 * cancelled, even while waiting for the next message.
 */
async function* incoming<T>(
  call: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  signal: AbortSignal,
): AsyncGenerator<T> {
  // Node's default stream iterator destroys the stream when the reading ends, which would also
  // destroy the response side of a bidi call; keep it open.
  const iterator = call.iterator({ destroyOnReturn: false }) as AsyncIterator<T>;
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  // One reaction on `aborted` for the whole stream, not one per message (see racing.ts).
  const untilAborted = racing(aborted);
  try {
    while (true) {
      if (signal.aborted) throw signal.reason;
      const next = await untilAborted(iterator.next());
      if (next.done) return;
      yield next.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Shows every request message to the call's taps before the handler gets it. */
async function* tapped<T>(messages: AsyncIterable<T>, taps: CallTaps): AsyncGenerator<T> {
  for await (const message of messages) {
    taps.request(message);
    yield message;
  }
}

interface BatchableWritable {
  _write(chunk: unknown, encoding: string, callback: () => void): void;
  _writev?: ((chunks: Array<{ chunk: unknown }>, callback: () => void) => void) | null;
}

/**
 * Lets grpc-js send the messages that wait in a call's write buffer together. Its response stream
 * hands its HTTP/2 stream one message at a time, each after the previous one's write completed:
 * one DATA frame, one socket write and one event-loop turn per message, about half of ListUsers'
 * CPU per message in the bench's profile. Node's Writable gives a `_writev` every buffered message at
 * once; passing them all to grpc-js's own `_write` in one go lets the HTTP/2 stream send them in two
 * socket writes (its first write, then the rest it buffered meanwhile). Each message is still serialised, checked against the size limit and sent by grpc-js, in
 * order, and the batch completes when its last message has been written (grpc-js calls a write's
 * callback only on success; on a failure it ends the call with a status instead).
 */
function batchWrites(call: WritableCall): void {
  const stream = call as unknown as BatchableWritable;
  if (typeof stream._writev === "function" || typeof stream._write !== "function") return;
  // A Writable runs one _writev at a time, so one counter and one callback per call do.
  let left = 0;
  let done: () => void = () => {};
  const written = () => {
    if (--left === 0) done();
  };
  stream._writev = (chunks, callback) => {
    left = chunks.length;
    done = callback;
    for (let i = 0; i < chunks.length; i++) stream._write(chunks[i]!.chunk, "", written);
  };
}

/**
 * Writes a handler's output with back-pressure: after a write the stream's buffer is full, the
 * next message is pulled only once it drained (grpc-js buffers 16). Stops as soon as the call is
 * aborted.
 */
async function writeAll(call: WritableCall, output: AsyncIterable<unknown>, signal: AbortSignal, taps: CallTaps) {
  batchWrites(call);
  // One pair of listeners for the call, rather than a pair per wait.
  let wake: (() => void) | undefined;
  const onDrain = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const waitForDrain = (resolve: () => void) => {
    wake = resolve;
  };
  // The messages written before the loop next waits (for the handler or for drain) stay corked
  // and reach _writev together, rather than the first alone and the rest after it.
  let corked = false;
  const uncork = () => {
    corked = false;
    call.uncork();
  };
  call.on("drain", onDrain);
  signal.addEventListener("abort", onDrain);
  try {
    for await (const message of output) {
      if (signal.aborted) return;
      taps.response(message);
      if (!corked) {
        corked = true;
        call.cork();
        process.nextTick(uncork);
      }
      if (!call.write(message) && !signal.aborted) await new Promise<void>(waitForDrain);
      if (signal.aborted) return;
    }
  } finally {
    call.off("drain", onDrain);
    signal.removeEventListener("abort", onDrain);
  }
}

function statusOf(err: unknown, scope: CallScope): StatusObject {
  const s = toRpcStatus(err, scope.ctx.log, scope.ctx.method);
  return { ...s, metadata: scope.ctx.responseTrailer };
}

/**
 * Adapts a protobuf-es service implementation to grpc-js: typed handlers with async iterables,
 * back-pressure on every write, cancellation as an AbortSignal, thrown errors mapped to status in
 * one place (rpc-status.ts), and every call registered for graceful shutdown.
 */
export function grpcServiceImplementation<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  options: GrpcServiceOptions,
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  const table = impl as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const method of service.methods) {
    const handler = table[method.localName];
    // A method without a handler is left out: grpc-js answers it UNIMPLEMENTED.
    if (typeof handler !== "function") continue;
    const path = grpcMethodPath(method);
    const served: ServedMethod = { method, path, log: options.log.child({ method: path }) };
    switch (method.methodKind) {
      case "unary":
      case "client_streaming":
        handlers[method.localName] = (
          call: ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown>,
          callback: sendUnaryData<unknown>,
        ) => {
          let responded = false;
          const respond = (err: StatusObject | null, response?: unknown) => {
            if (responded) return false;
            responded = true;
            if (err) callback(err);
            else callback(null, response, scope.ctx.responseTrailer);
            return true;
          };
          const scope = openScope(call, served, options, (status) => respond(status));
          const finish = (code: Status, message?: string) =>
            scope.finish(scope.ctx.signal.aborted && code === Status.OK ? Status.CANCELLED : code, message);
          Promise.resolve()
            .then(async () => {
              await startHooks(options.hooks ?? [], scope.info, scope.taps);
              let input: unknown;
              if (method.methodKind === "unary") {
                input = (call as ServerUnaryCall<unknown, unknown>).request;
                scope.taps.request(input);
              } else {
                input = tapped(incoming(call as ServerReadableStream<unknown, unknown>, scope.ctx.signal), scope.taps);
              }
              const response = await handler.call(impl, input, scope.ctx);
              scope.taps.response(response);
              return response;
            })
            .then(
              (response) => {
                if (respond(null, response)) finish(Status.OK);
                else finish(Status.CANCELLED);
              },
              (err: unknown) => {
                const status = statusOf(err, scope);
                respond(status);
                finish(scope.ctx.signal.aborted ? Status.CANCELLED : status.code, status.details);
              },
            );
        };
        break;
      case "server_streaming":
      case "bidi_streaming":
        handlers[method.localName] = (call: WritableCall) => {
          let endedWith: Status | undefined;
          const endWith = (status: StatusObject) => {
            if (endedWith !== undefined) return;
            endedWith = status.code;
            // grpc-js sends an 'error' event's status instead of OK when the stream ends.
            call.emit("error", status);
          };
          const scope = openScope(call, served, options, endWith);
          Promise.resolve()
            .then(async () => {
              await startHooks(options.hooks ?? [], scope.info, scope.taps);
              let request: unknown;
              if (method.methodKind === "server_streaming") {
                request = (call as ServerWritableStream<unknown, unknown>).request;
                scope.taps.request(request);
              } else {
                request = tapped(incoming(call as ServerDuplexStream<unknown, unknown>, scope.ctx.signal), scope.taps);
              }
              const output = handler.call(impl, request, scope.ctx) as AsyncIterable<unknown>;
              await writeAll(call, output, scope.ctx.signal, scope.taps);
            })
            .then(
              () => {
                if (endedWith !== undefined) return scope.finish(endedWith);
                // The client went away (cancel or deadline): grpc-js has already closed the call.
                if (scope.ctx.signal.aborted) return scope.finish(Status.CANCELLED);
                endedWith = Status.OK;
                call.end(scope.ctx.responseTrailer);
                scope.finish(Status.OK);
              },
              (err: unknown) => {
                if (endedWith !== undefined) return scope.finish(endedWith);
                if (scope.ctx.signal.aborted) return scope.finish(Status.CANCELLED);
                const status = statusOf(err, scope);
                endWith(status);
                scope.finish(status.code, status.details);
              },
            );
        };
        break;
    }
  }
  return handlers;
}

/** A service ready for `server.addService`. */
export interface GrpcService {
  descriptor: DescService;
  register(options: GrpcServiceOptions): {
    definition: ReturnType<typeof grpcServiceDefinition>;
    implementation: UntypedServiceImplementation;
  };
}

/** Pairs a service descriptor with its implementation for `startGrpcServer`. */
export function grpcService<S extends DescService>(service: S, impl: ServiceImpl<S>): GrpcService {
  return {
    descriptor: service,
    register: (options) => ({
      definition: grpcServiceDefinition(service),
      implementation: grpcServiceImplementation(service, impl, options),
    }),
  };
}
