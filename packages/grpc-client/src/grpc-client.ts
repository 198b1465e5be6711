import {
  Client,
  credentials as grpcCredentials,
  Metadata,
  type CallOptions as GrpcCallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type ClientReadableStream,
  type ClientWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { grpcServiceDefinition } from "./grpc-definition.js";

/** Per-call options of a typed client method. */
export interface CallOptions {
  /** Relative deadline in milliseconds; `deadline` wins when both are set. */
  timeoutMs?: number;
  deadline?: Date;
  metadata?: Metadata;
  /** Aborting cancels the call (the server sees CANCELLED). */
  signal?: AbortSignal;
  /** Receives the response headers when they arrive. */
  onHeader?: (header: Metadata) => void;
  /** Receives the response trailers when the call ends, whatever its status. */
  onTrailer?: (trailer: Metadata) => void;
}

type In<M> = M extends { input: infer I extends DescMessage } ? MessageInitShape<I> : never;
type Out<M> = M extends { output: infer O extends DescMessage } ? MessageShape<O> : never;
type Source<T> = AsyncIterable<T> | Iterable<T>;

export type ClientMethod<M> = M extends { methodKind: "unary" }
  ? (request: In<M>, options?: CallOptions) => Promise<Out<M>>
  : M extends { methodKind: "server_streaming" }
    ? (request: In<M>, options?: CallOptions) => AsyncIterable<Out<M>>
    : M extends { methodKind: "client_streaming" }
      ? (requests: Source<In<M>>, options?: CallOptions) => Promise<Out<M>>
      : M extends { methodKind: "bidi_streaming" }
        ? (requests: Source<In<M>>, options?: CallOptions) => AsyncIterable<Out<M>>
        : never;

/** A promise and async-iterable client for every method of a service. */
export type TypedClient<S extends DescService> = {
  [K in keyof S["method"]]: ClientMethod<S["method"][K]>;
};

export interface GrpcClientOptions {
  /** Insecure (plaintext) when omitted. */
  credentials?: ChannelCredentials;
  /** grpc-js channel options: service config, keepalive, load-balancing policy. */
  channelOptions?: ChannelOptions;
}

export interface GrpcClient<S extends DescService> {
  readonly methods: TypedClient<S>;
  /** The underlying grpc-js client, for channel state and `waitForReady`. */
  readonly channel: Client;
  close(): void;
}

function callOptions(options: CallOptions | undefined): GrpcCallOptions {
  const deadline =
    options?.deadline ?? (options?.timeoutMs !== undefined ? new Date(Date.now() + options.timeoutMs) : undefined);
  return deadline ? { deadline } : {};
}

/** Wires trailers and cancellation to a call. */
// ClientUnaryCall is grpc-js's base call type: every stream type extends it.
function attach(call: ClientUnaryCall, options: CallOptions | undefined) {
  if (options?.onHeader) call.on("metadata", options.onHeader);
  if (options?.onTrailer) {
    const onTrailer = options.onTrailer;
    call.on("status", (status: { metadata: Metadata }) => onTrailer(status.metadata));
  }
  const signal = options?.signal;
  if (signal) {
    if (signal.aborted) call.cancel();
    else signal.addEventListener("abort", () => call.cancel(), { once: true });
  }
}

/**
 * Reads a response stream; leaving the loop early cancels the call. When the call fails,
 * `failure()` may name the cause the call's own error hides (a failed request source).
 */
async function* responses<T>(
  call: ClientReadableStream<unknown> | ClientDuplexStream<unknown, unknown>,
  failure: () => unknown = () => undefined,
): AsyncGenerator<T> {
  let finished = false;
  try {
    for await (const message of call) yield message as T;
    finished = true;
  } catch (err) {
    throw failure() ?? err;
  } finally {
    if (!finished) call.cancel();
  }
}

/** Writes a request stream with back-pressure, then half-closes. Stops if the call ends first. */
async function writeRequests(
  call: ClientWritableStream<unknown> | ClientDuplexStream<unknown, unknown>,
  requests: Source<unknown>,
) {
  let closed = false;
  const markClosed = () => {
    closed = true;
  };
  call.once("status", markClosed);
  call.once("error", markClosed);
  try {
    for await (const request of requests) {
      if (closed) return;
      if (!call.write(request)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            call.off("status", done);
            resolve();
          };
          call.on("drain", done);
          call.on("status", done);
        });
      }
    }
    if (!closed) call.end();
  } catch (err) {
    // The request source itself failed: cancel instead of half-closing a partial stream.
    call.cancel();
    throw err;
  }
}

/**
 * Creates a typed grpc-js client for a protobuf-es service descriptor: unary and client-streaming
 * methods return promises, server-streaming and bidi methods return async iterables, and errors are
 * grpc-js `ServiceError`s (with `code`, `details` and `metadata`).
 */
export function createGrpcClient<S extends DescService>(
  service: S,
  target: string,
  options: GrpcClientOptions = {},
): GrpcClient<S> {
  const channel = new Client(target, options.credentials ?? grpcCredentials.createInsecure(), options.channelOptions);
  const definition = grpcServiceDefinition(service);
  const methods: Record<string, unknown> = {};
  for (const method of service.methods as DescMethod[]) {
    const def = definition[method.localName]!;
    const path = def.path;
    const ser = def.requestSerialize;
    const de = def.responseDeserialize;
    const metadata = (opts?: CallOptions) => opts?.metadata ?? new Metadata();
    switch (method.methodKind) {
      case "unary":
      case "client_streaming":
        methods[method.localName] = (input: unknown, opts?: CallOptions) =>
          new Promise((resolve, reject) => {
            const done = (err: ServiceError | null, value?: unknown) => (err ? reject(err) : resolve(value));
            if (method.methodKind === "unary") {
              const call = channel.makeUnaryRequest(path, ser, de, input, metadata(opts), callOptions(opts), done);
              attach(call, opts);
            } else {
              const call = channel.makeClientStreamRequest(path, ser, de, metadata(opts), callOptions(opts), done);
              attach(call, opts);
              writeRequests(call, input as Source<unknown>).catch(reject);
            }
          });
        break;
      case "server_streaming":
      case "bidi_streaming":
        methods[method.localName] = (input: unknown, opts?: CallOptions) => {
          if (method.methodKind === "server_streaming") {
            const call = channel.makeServerStreamRequest(path, ser, de, input, metadata(opts), callOptions(opts));
            attach(call, opts);
            return responses(call);
          }
          const call = channel.makeBidiStreamRequest(path, ser, de, metadata(opts), callOptions(opts));
          attach(call, opts);
          // If the request source fails, the call is cancelled; report the source's error, not CANCELLED.
          let sourceError: unknown;
          writeRequests(call, input as Source<unknown>).catch((err: unknown) => (sourceError = err));
          return responses(call, () => sourceError);
        };
        break;
    }
  }
  return { methods: methods as TypedClient<S>, channel, close: () => channel.close() };
}

/** True when `err` is a grpc-js call error carrying a status code. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "details" in err;
}
