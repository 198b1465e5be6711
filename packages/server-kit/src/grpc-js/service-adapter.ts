import type {
  sendUnaryData,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  StatusObject,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { grpcMethodPath } from "@polyrpc/grpc-client";
import type { ActiveCalls } from "../active-calls.js";
import type { ImplementedService } from "../call-context.js";
import { CallTaps, startHooks, tapRequests, type CallHook, type CallInfo, type CallValueKey } from "../call-hooks.js";
import { callStart, logCallEnd } from "../call-log.js";
import { CancelledError } from "../errors.js";
import type { Logger } from "../logger.js";
import { traceIdOf } from "../observability/trace-id.js";
import { toRpcStatus, type RpcStatus } from "../rpc-status.js";
import { StatusCode } from "../status-code.js";
import { deadlineOf, GrpcCallContext } from "./handler-context.js";
import { incoming } from "./stream-reads.js";
import { writeAll, type WritableCall } from "./stream-writes.js";

export interface GrpcServiceOptions {
  log: Logger;
  activeCalls: ActiveCalls;
  /** Steps every call goes through before its handler (see call-hooks.ts). */
  hooks?: readonly CallHook[];
}

type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/** One call as the adapter runs it: the handler's context, the hooks' view, their taps. */
interface CallScope {
  ctx: GrpcCallContext;
  info: CallInfo;
  taps: CallTaps;
  /** The status for what a handler or hook threw, with the call's trailers. */
  statusOf(err: unknown): StatusObject;
  /** Logs the outcome, tells the taps, and unregisters the call. */
  finish(code: StatusCode, message?: string): void;
}

/** What every call of one method shares, made once when the service is registered. */
interface ServedMethod {
  service: DescService;
  method: DescMethod;
  /** `/package.Service/Method`. */
  path: string;
}

function openScope(
  call: AnyCall,
  { service, method, path }: ServedMethod,
  options: GrpcServiceOptions,
  end: (status: StatusObject) => void,
): CallScope {
  const { log } = options;
  const controller = new AbortController();
  const started = callStart();
  let finished = false;
  // grpc-js 1.14 emits 'cancelled' when any call's stream closes, even after its status went out;
  // only a call still running is cancelled (building the error and aborting cost ~3% per call).
  (call as ServerUnaryCall<unknown, unknown>).once("cancelled", () => {
    if (!finished) controller.abort(new CancelledError("the call was cancelled by the client or its deadline"));
  });
  const values = new Map<symbol, unknown>();
  const get = <T>(key: CallValueKey<T>) => (values.has(key.id) ? (values.get(key.id) as T) : key.defaultValue);
  const ctx = new GrpcCallContext(service, method, controller.signal, call.metadata, deadlineOf(call), { get });
  const withTrailer = (status: RpcStatus): StatusObject => ({ ...status, metadata: ctx.trailerMetadata() });
  const untrack = options.activeCalls.track({
    streaming: method.methodKind !== "unary",
    end: (status) => {
      controller.abort(new CancelledError(status.details));
      end(withTrailer(status));
    },
  });
  const info: CallInfo = {
    service: service.typeName,
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
    timeoutMs: () => ctx.timeoutMs(),
    get responseHeader() {
      return ctx.responseHeader;
    },
    get responseTrailer() {
      return ctx.responseTrailer;
    },
    set: (key, value) => void values.set(key.id, value),
    get,
    abort: (error) => {
      const status = withTrailer(toRpcStatus(error, log, path));
      controller.abort(error);
      end(status);
    },
  };
  return {
    ctx,
    info,
    taps: new CallTaps(),
    statusOf: (err) => withTrailer(toRpcStatus(err, log, path)),
    finish(code, message = "") {
      finished = true;
      untrack();
      this.taps.end(code, message);
      logCallEnd(log, path, code, started, traceIdOf(info, info.header));
    },
  };
}

type Handler = (input: unknown, ctx: GrpcCallContext) => unknown;

/**
 * Runs the call's hooks, then gives what the handler takes: the request (shown to the taps), or
 * the request stream (each message shown to the taps as it is read).
 */
async function startCall(call: AnyCall, scope: CallScope, readsStream: boolean, options: GrpcServiceOptions) {
  await startHooks(options.hooks ?? [], scope.info, scope.taps);
  if (readsStream) {
    return tapRequests(incoming(call as ServerReadableStream<unknown, unknown>, scope.ctx.signal), scope.taps);
  }
  const request = (call as ServerUnaryCall<unknown, unknown>).request;
  scope.taps.request(request);
  return request;
}

/** Unary and client-streaming calls: one response, through grpc-js's callback. */
function oneResponse(served: ServedMethod, handler: Handler, options: GrpcServiceOptions) {
  const readsStream = served.method.methodKind === "client_streaming";
  return (
    call: ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown>,
    callback: sendUnaryData<unknown>,
  ) => {
    let responded = false;
    const respond = (err: StatusObject | null, response?: unknown) => {
      if (responded) return false;
      responded = true;
      scope.ctx.flushHeader(call);
      if (err) callback(err);
      else callback(null, response, scope.ctx.trailerMetadata());
      return true;
    };
    const scope = openScope(call, served, options, (status) => respond(status));
    const finish = (code: StatusCode, message?: string) =>
      scope.finish(scope.ctx.signal.aborted && code === StatusCode.OK ? StatusCode.CANCELLED : code, message);
    Promise.resolve()
      .then(async () => {
        const input = await startCall(call, scope, readsStream, options);
        const response = await handler(input, scope.ctx);
        scope.taps.response(response);
        return response;
      })
      .then(
        (response) => {
          if (respond(null, response)) finish(StatusCode.OK);
          else finish(StatusCode.CANCELLED);
        },
        (err: unknown) => {
          const status = scope.statusOf(err);
          respond(status);
          finish(scope.ctx.signal.aborted ? StatusCode.CANCELLED : (status.code as StatusCode), status.details);
        },
      );
  };
}

/** Server-streaming and bidi calls: the handler's output written with back-pressure. */
function streamedResponses(served: ServedMethod, handler: Handler, options: GrpcServiceOptions) {
  const readsStream = served.method.methodKind === "bidi_streaming";
  return (call: WritableCall) => {
    let endedWith: StatusCode | undefined;
    const endWith = (status: StatusObject) => {
      if (endedWith !== undefined) return;
      endedWith = status.code as StatusCode;
      scope.ctx.flushHeader(call);
      // grpc-js sends an 'error' event's status instead of OK when the stream ends.
      call.emit("error", status);
    };
    const scope = openScope(call, served, options, endWith);
    Promise.resolve()
      .then(async () => {
        const input = await startCall(call, scope, readsStream, options);
        const output = handler(input, scope.ctx) as AsyncIterable<unknown>;
        await writeAll(call, output, scope.ctx, scope.taps);
      })
      .then(
        () => {
          if (endedWith !== undefined) return scope.finish(endedWith);
          // The client went away (cancel or deadline): grpc-js has already closed the call.
          if (scope.ctx.signal.aborted) return scope.finish(StatusCode.CANCELLED);
          endedWith = StatusCode.OK;
          scope.ctx.flushHeader(call);
          call.end(scope.ctx.trailerMetadata());
          scope.finish(StatusCode.OK);
        },
        (err: unknown) => {
          if (endedWith !== undefined) return scope.finish(endedWith);
          if (scope.ctx.signal.aborted) return scope.finish(StatusCode.CANCELLED);
          const status = scope.statusOf(err);
          endWith(status);
          scope.finish(status.code as StatusCode, status.details);
        },
      );
  };
}

/**
 * Adapts a service's handlers to grpc-js: async iterables both ways, back-pressure on every write,
 * cancellation as an AbortSignal, thrown errors mapped to a status in one place (rpc-status.ts),
 * the call hooks, the call's log line, and every call registered for graceful shutdown. A method
 * without a handler is left out: grpc-js answers it UNIMPLEMENTED.
 */
export function grpcServiceImplementation(
  { descriptor, handlers }: ImplementedService,
  options: GrpcServiceOptions,
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  const table = handlers as Record<string, ((...args: unknown[]) => unknown) | undefined>;
  for (const method of descriptor.methods) {
    const fn = table[method.localName];
    if (typeof fn !== "function") continue;
    const handler: Handler = (input, ctx) => fn.call(handlers, input, ctx);
    const served: ServedMethod = { service: descriptor, method, path: grpcMethodPath(method) };
    implementation[method.localName] =
      method.methodKind === "unary" || method.methodKind === "client_streaming"
        ? oneResponse(served, handler, options)
        : streamedResponses(served, handler, options);
  }
  return implementation;
}
