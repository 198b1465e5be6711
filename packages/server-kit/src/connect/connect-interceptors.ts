import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { ActiveCalls } from "../active-calls.js";
import type { Logger } from "../logger.js";
import { toRpcStatus } from "../rpc-status.js";
import { CallTaps, startHooks, type CallHook, type CallInfo } from "../call-hooks.js";
import { traceIdOf } from "../observability/trace-id.js";
import { racing } from "../racing.js";
import type { status as Status } from "@grpc/grpc-js";

/**
 * Turns whatever a handler threw into a ConnectError, through the kit's one mapping (rpc-status.ts).
 * Anything thrown after the client went away (a cancelled stream's "premature close", say) is the
 * cancellation, not a server error.
 */
export function toConnectError(err: unknown, log: Logger, method: string, signal?: AbortSignal): ConnectError {
  if (err instanceof ConnectError) return err;
  if (signal?.aborted) return new ConnectError("the call was cancelled", Code.Canceled);
  const status = toRpcStatus(err, log, method);
  // gRPC status codes and connect Codes share their numbers.
  return new ConnectError(status.details, status.code as number as Code);
}

/** The gRPC spelling of a code (`NOT_FOUND`), as the grpc-js side logs it. */
function grpcCodeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

async function* mapErrors<T>(
  messages: AsyncIterable<T>,
  log: Logger,
  method: string,
  signal: AbortSignal,
): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(err, log, method, signal);
  }
}

/** Maps domain errors to codes, for unary results and for errors thrown while streaming. */
export function errorInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `/${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: mapErrors(res.message, log, method, req.signal) } : res;
    } catch (err) {
      throw toConnectError(err, log, method, req.signal);
    }
  };
}

/**
 * Registers every call of `services` for graceful shutdown. Streaming responses can be ended from
 * outside: the stream stops pulling from the handler (whose generator then runs its `finally`)
 * and the client receives the given status.
 */
export function trackingInterceptor(calls: ActiveCalls, services: ReadonlySet<string>, log: Logger): Interceptor {
  return (next) => async (req) => {
    if (!services.has(req.service.typeName)) return next(req);
    const started = process.hrtime.bigint();
    const method = `/${req.service.typeName}/${req.method.name}`;
    let ender: (error: ConnectError) => void = () => {};
    const ended = new Promise<never>((_, reject) => (ender = reject));
    ended.catch(() => {});
    const untrack = calls.track({
      streaming: req.method.methodKind === "server_streaming" || req.method.methodKind === "bidi_streaming",
      end: (status) => ender(new ConnectError(status.details, status.code as number as Code)),
    });
    /** `code` is undefined for OK, which connect's Code has no member for. */
    const finish = (code: Code | undefined) => {
      untrack();
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e3) / 1e3;
      // One line per call, the same fields as the grpc-js side's: {method, code, ms, traceId}.
      const traceId = traceIdOf(req.contextValues, (name) => req.header.get(name) ?? undefined);
      if (code === undefined || code === Code.Canceled)
        log.info({ method, code: code ? "CANCELLED" : "OK", ms, traceId }, "call finished");
      else log.info({ method, code: grpcCodeName(code), ms, traceId }, "call failed");
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      finish(err instanceof ConnectError ? err.code : Code.Internal);
      throw err;
    }
    if (!res.stream) {
      finish(undefined);
      return res;
    }
    const stream = res as StreamResponse;
    return { ...stream, message: endable(stream.message, ended, finish, req.signal) } as typeof res;
  };
}

async function* endable<T>(
  messages: AsyncIterable<T>,
  ended: Promise<never>,
  finish: (code: Code | undefined) => void,
  signal: AbortSignal,
): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  const untilEnded = racing(ended);
  let code: Code | undefined;
  try {
    while (true) {
      const next = await untilEnded(iterator.next());
      if (next.done) return;
      yield next.value;
    }
  } catch (err) {
    code = err instanceof ConnectError ? err.code : Code.Internal;
    throw err;
  } finally {
    if (signal.aborted && code === undefined) code = Code.Canceled;
    // Stops the handler's generator too, so that it releases what it holds.
    void iterator.return?.();
    finish(code);
  }
}

/**
 * Runs the kit's call hooks (call-hooks.ts) for every call of `services`, as the grpc-js adapter
 * does: `start` before the handler (a refusal becomes the call's status), request and response
 * taps on every message, `end` with the final code. Values hooks set reach handlers as connect
 * context values (`ctx.values.get(key)`).
 */
export function hooksInterceptor(hooks: readonly CallHook[], services: ReadonlySet<string>, log: Logger): Interceptor {
  return (next) => async (req) => {
    if (hooks.length === 0 || !services.has(req.service.typeName)) return next(req);
    const method = `/${req.service.typeName}/${req.method.name}`;
    const taps = new CallTaps();
    let abortWith: (error: ConnectError) => void = () => {};
    const aborted = new Promise<never>((_, reject) => (abortWith = reject));
    aborted.catch(() => {});
    const end = (err: unknown) => {
      if (err === undefined) return taps.end(0 as Status, "");
      const e = toConnectError(err, log, method, req.signal);
      taps.end(e.code as number as Status, e.rawMessage);
    };
    const info: CallInfo = {
      service: req.service.typeName,
      method: req.method.name,
      path: method,
      kind: req.method.methodKind,
      input: req.method.input,
      runtime: "connect",
      header: (name) => req.header.get(name) ?? undefined,
      signal: req.signal,
      deadline: undefined,
      set: (key, value) => void req.contextValues.set(key, value),
      get: (key) => req.contextValues.get(key),
      abort: (error) => abortWith(toConnectError(error, log, method, req.signal)),
    };
    try {
      await startHooks(hooks, info, taps);
    } catch (err) {
      end(err);
      throw toConnectError(err, log, method, req.signal);
    }
    try {
      const request = req.stream ? { ...req, message: tapRequests(req.message, taps) } : req;
      if (!req.stream) taps.request(req.message);
      const res = await Promise.race([next(request as typeof req), aborted]);
      if (!res.stream) {
        taps.response(res.message);
        end(undefined);
        return res;
      }
      return { ...res, message: tapResponses(res.message, taps, aborted, end) } as typeof res;
    } catch (err) {
      end(err);
      throw toConnectError(err, log, method, req.signal);
    }
  };
}

async function* tapRequests<T>(messages: AsyncIterable<T>, taps: CallTaps): AsyncGenerator<T> {
  for await (const message of messages) {
    taps.request(message);
    yield message;
  }
}

async function* tapResponses<T>(
  messages: AsyncIterable<T>,
  taps: CallTaps,
  aborted: Promise<never>,
  end: (err: unknown) => void,
): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  const untilAborted = racing(aborted);
  try {
    while (true) {
      const next = await untilAborted(iterator.next());
      if (next.done) break;
      taps.response(next.value);
      yield next.value;
    }
    end(undefined);
  } catch (err) {
    end(err);
    throw err;
  } finally {
    void iterator.return?.();
  }
}
