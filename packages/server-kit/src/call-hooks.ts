import type { DescMessage } from "@bufbuild/protobuf";
import type { StatusCode } from "./status-code.js";

/** The streaming shape of a method. */
export type MethodKind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/**
 * A key for a value hooks attach to a call (the caller's identity, say) and handlers read back
 * with `callValue`. One key works on both runtimes.
 */
export interface CallValueKey<T> {
  readonly id: symbol;
  readonly defaultValue: T;
}

export function createCallValueKey<T>(description: string, defaultValue: T): CallValueKey<T> {
  return { id: Symbol(description), defaultValue };
}

/** What a hook knows about a call when it starts, whatever the runtime. */
export interface CallInfo {
  /** `user.UserService` */
  readonly service: string;
  /** `GetUser` */
  readonly method: string;
  /** `/user.UserService/GetUser` */
  readonly path: string;
  readonly kind: MethodKind;
  /** The schema of the request messages. */
  readonly input: DescMessage;
  readonly runtime: "grpc-js" | "connect";
  /** The first value of a request header (lower-case name), or undefined. */
  header(name: string): string | undefined;
  /**
   * Aborted when the call ends before its handler is done: cancelled by the client, past its
   * deadline, ended by the server or a hook. After a normal completion it may stay unaborted (the
   * grpc-js adapter skips that abort, which cost ~3% per call); use `end` to clean up after a call.
   */
  readonly signal: AbortSignal;
  /** Milliseconds left before the call's deadline; undefined when the client set none. */
  timeoutMs(): number | undefined;
  /**
   * The response's headers and trailers, the same objects the handler's context has: a hook may
   * add to them (sent as the handler's are).
   */
  readonly responseHeader: Headers;
  readonly responseTrailer: Headers;
  /** Attaches a value the handler (and later hooks) can read. */
  set<T>(key: CallValueKey<T>, value: T): void;
  get<T>(key: CallValueKey<T>): T;
  /** Ends the call now with a status, from outside the handler (an expiring credential, say). */
  abort(error: Error): void;
}

/** Follows one call; every method is optional. */
export interface CallTap {
  /** Each request message, before the handler sees it; throw a domain error to fail the call. */
  request?(message: unknown): void;
  /** Each response message, before it is written. */
  response?(message: unknown): void;
  /** Once, when the call ends, with its gRPC status code and message. Must not throw. */
  end?(code: StatusCode, message: string): void;
}

/**
 * A step every call of a served service goes through on both runtimes (health and reflection are
 * left alone): authentication, validation, rate limits, metrics, tracing. `start` runs before the
 * handler, in the order the hooks are given; throwing a domain error refuses the call with its
 * status. The tap it returns sees the call's messages and its end.
 */
export interface CallHook {
  start(call: CallInfo): CallTap | void | Promise<CallTap | void>;
}

/** The taps of one call, fed in hook order; `end` runs once. */
export class CallTaps implements Required<CallTap> {
  private readonly taps: CallTap[] = [];
  private ended = false;

  add(tap: CallTap | void): void {
    if (tap) this.taps.push(tap);
  }

  request(message: unknown): void {
    for (const tap of this.taps) tap.request?.(message);
  }

  response(message: unknown): void {
    for (const tap of this.taps) tap.response?.(message);
  }

  end(code: StatusCode, message: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const tap of this.taps) {
      try {
        tap.end?.(code, message);
      } catch {
        // A tap's end must not turn a finished call into a failure.
      }
    }
  }
}

/**
 * Runs every hook's `start`, in order, adding their taps to `taps`. When a hook refuses the call
 * (throws), the hooks after it do not run; the taps already added still see the call's end.
 */
export async function startHooks(hooks: readonly CallHook[], call: CallInfo, taps: CallTaps): Promise<void> {
  for (const hook of hooks) taps.add(await hook.start(call));
}

/** Shows every request message to the call's taps before the handler gets it (both runtimes). */
export async function* tapRequests<T>(messages: AsyncIterable<T>, taps: CallTaps): AsyncGenerator<T> {
  for await (const message of messages) {
    taps.request(message);
    yield message;
  }
}
