import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { CallValueKey } from "./call-hooks.js";

/**
 * What a handler knows about the call it serves, the same on both runtimes. The names are
 * connect's (`HandlerContext`), so on connect-node the handler receives connect's own context, and
 * the grpc-js adapter builds one of this shape (grpc-js/handler-context.ts). Headers are fetch
 * `Headers`; a `-bin` header's value is its base64 text, as on the wire.
 */
export interface CallContext {
  readonly service: DescService;
  readonly method: DescMethod;
  /**
   * Aborted when the client cancels, the deadline passes, or the server ends the call while
   * shutting down. Handlers pass it to anything slow (storage, other services).
   */
  readonly signal: AbortSignal;
  /** Milliseconds left before the call's deadline; undefined when the client set none. */
  timeoutMs(): number | undefined;
  readonly requestHeader: Headers;
  /** Sent before the first response message (or with the status when there is none). */
  readonly responseHeader: Headers;
  /** Sent with the status at the end of the call. */
  readonly responseTrailer: Headers;
  /** Values the call hooks attached (the caller's identity, say). */
  readonly values: { get<T>(key: CallValueKey<T>): T };
}

type Input<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never;
type Output<M> = M extends { output: infer O extends DescMessage } ? MessageInitShape<O> : never;

/** The handler shape of one method, chosen by its streaming kind. */
export type MethodHandler<M> = M extends { methodKind: "unary" }
  ? (request: Input<M>, ctx: CallContext) => Promise<Output<M>>
  : M extends { methodKind: "server_streaming" }
    ? (request: Input<M>, ctx: CallContext) => AsyncIterable<Output<M>>
    : M extends { methodKind: "client_streaming" }
      ? (requests: AsyncIterable<Input<M>>, ctx: CallContext) => Promise<Output<M>>
      : M extends { methodKind: "bidi_streaming" }
        ? (requests: AsyncIterable<Input<M>>, ctx: CallContext) => AsyncIterable<Output<M>>
        : never;

/** A handler for every method of a service, keyed by the methods' local names. */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S["method"]]: MethodHandler<S["method"][K]>;
};

/** A service and its handlers, ready for `startGrpcServer` or `startConnectServer`. */
export interface ImplementedService<S extends DescService = DescService> {
  readonly descriptor: S;
  /**
   * Methods without a handler are answered UNIMPLEMENTED (by either runtime); a partial table is
   * for services whose contract lists a method on purpose left out (a conformance suite's, say).
   */
  readonly handlers: Partial<ServiceHandlers<S>>;
}

/** Pairs a service descriptor with its handlers. */
export function implementService<S extends DescService>(
  descriptor: S,
  handlers: Partial<ServiceHandlers<S>>,
): ImplementedService<S> {
  return { descriptor, handlers };
}

/** The call's deadline as a date (for storage calls that take one); undefined when none was set. */
export function callDeadline(ctx: Pick<CallContext, "timeoutMs">): Date | undefined {
  const timeoutMs = ctx.timeoutMs();
  return timeoutMs === undefined ? undefined : new Date(Date.now() + timeoutMs);
}
