import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { ActiveCalls } from "../active-calls.js";
import { CallTaps, startHooks, tapRequests, type CallHook, type CallInfo } from "../call-hooks.js";
import { callStart, logCallEnd } from "../call-log.js";
import type { Logger } from "../logger.js";
import { traceIdOf } from "../observability/trace-id.js";
import { toRpcStatus } from "../rpc-status.js";
import { StatusCode } from "../status-code.js";
import { endable, tapResponses } from "./stream-writes.js";

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
    const started = callStart();
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
      const traceId = traceIdOf(req.contextValues, (name) => req.header.get(name) ?? undefined);
      logCallEnd(log, method, code ?? StatusCode.OK, started, traceId);
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

const GRPC_TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * The timeout a request's headers carry (Connect's `connect-timeout-ms`, gRPC and gRPC-Web's
 * `grpc-timeout`), which connect-node gives handlers but not interceptors.
 */
function requestTimeoutMs(header: Headers): number | undefined {
  const connectTimeout = header.get("connect-timeout-ms");
  if (connectTimeout !== null && /^\d{1,10}$/.test(connectTimeout)) return Number(connectTimeout);
  const match = /^(\d{1,8})([HMSmun])$/.exec(header.get("grpc-timeout") ?? "");
  return match ? Number(match[1]) * GRPC_TIMEOUT_UNIT_MS[match[2]!]! : undefined;
}

/**
 * Runs the kit's call hooks (call-hooks.ts) for every call of `services`, as the grpc-js adapter
 * does: `start` before the handler (a refusal becomes the call's status), request and response
 * taps on every message, `end` with the final code. Values hooks set reach handlers as connect
 * context values (`ctx.values.get(key)`); the headers and trailers hooks add go out with the response's.
 */
export function hooksInterceptor(hooks: readonly CallHook[], services: ReadonlySet<string>, log: Logger): Interceptor {
  return (next) => async (req) => {
    if (hooks.length === 0 || !services.has(req.service.typeName)) return next(req);
    const method = `/${req.service.typeName}/${req.method.name}`;
    const taps = new CallTaps();
    const received = Date.now();
    const timeout = requestTimeoutMs(req.header);
    // What hooks add to the response, merged into connect's own headers and trailers.
    const responseHeader = new Headers();
    const responseTrailer = new Headers();
    let abortWith: (error: ConnectError) => void = () => {};
    const aborted = new Promise<never>((_, reject) => (abortWith = reject));
    aborted.catch(() => {});
    const end = (err: unknown) => {
      if (err === undefined) return taps.end(StatusCode.OK, "");
      const e = toConnectError(err, log, method, req.signal);
      taps.end(e.code, e.rawMessage);
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
      timeoutMs: () => (timeout === undefined ? undefined : timeout - (Date.now() - received)),
      responseHeader,
      responseTrailer,
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
      responseHeader.forEach((value, name) => res.header.append(name, value));
      if (!res.stream) {
        taps.response(res.message);
        responseTrailer.forEach((value, name) => res.trailer.append(name, value));
        end(undefined);
        return res;
      }
      const ended = (err: unknown) => {
        responseTrailer.forEach((value, name) => res.trailer.append(name, value));
        end(err);
      };
      return { ...res, message: tapResponses(res.message, taps, aborted, ended) } as typeof res;
    } catch (err) {
      end(err);
      throw toConnectError(err, log, method, req.signal);
    }
  };
}
