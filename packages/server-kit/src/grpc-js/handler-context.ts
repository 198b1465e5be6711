import { Metadata, type ServerUnaryCall } from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { CallContext } from "../call-context.js";
import type { CallValueKey } from "../call-hooks.js";

/**
 * A request's metadata as fetch Headers, as connect-node gives it: repeated values joined by
 * ", ", a `-bin` value as its base64 text.
 */
export function metadataToHeaders(metadata: Metadata): Headers {
  const headers = new Headers();
  for (const [name, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) headers.append(name, typeof value === "string" ? value : value.toString("base64"));
  }
  return headers;
}

/** Headers as grpc-js metadata: a `-bin` header's comma-separated base64 values as bytes. */
export function headersToMetadata(headers: Headers, into = new Metadata()): Metadata {
  headers.forEach((value, name) => {
    if (!name.endsWith("-bin")) return into.add(name, value);
    for (const part of value.split(",")) into.add(name, Buffer.from(part.trim(), "base64"));
  });
  return into;
}

/** The deadline grpc-js reports for a call, as epoch milliseconds (Infinity when none was set). */
export function deadlineOf(call: Pick<ServerUnaryCall<unknown, unknown>, "getDeadline">): number {
  const deadline = call.getDeadline();
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * The kit's CallContext for a grpc-js call. Headers are converted from and to grpc-js metadata
 * only when a handler (or hook) touches them: most calls never do.
 */
export class GrpcCallContext implements CallContext {
  private requestHeaders: Headers | undefined;
  private responseHeaders: Headers | undefined;
  private responseTrailers: Headers | undefined;
  private headerSent = false;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly signal: AbortSignal,
    private readonly metadata: Metadata,
    /** Epoch milliseconds; Infinity when the client set no deadline. */
    private readonly deadline: number,
    readonly values: { get<T>(key: CallValueKey<T>): T },
  ) {}

  timeoutMs(): number | undefined {
    return Number.isFinite(this.deadline) ? this.deadline - Date.now() : undefined;
  }

  get requestHeader(): Headers {
    return (this.requestHeaders ??= metadataToHeaders(this.metadata));
  }

  get responseHeader(): Headers {
    return (this.responseHeaders ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.responseTrailers ??= new Headers());
  }

  /**
   * Sends the response headers the handler set, once, before the first message or the status
   * (grpc-js sends empty ones itself otherwise).
   */
  flushHeader(call: Pick<ServerUnaryCall<unknown, unknown>, "sendMetadata">): void {
    if (this.headerSent) return;
    this.headerSent = true;
    if (this.responseHeaders && !this.responseHeaders.keys().next().done) {
      call.sendMetadata(headersToMetadata(this.responseHeaders));
    }
  }

  /** The trailers to send with the status. */
  trailerMetadata(): Metadata {
    return this.responseTrailers ? headersToMetadata(this.responseTrailers) : new Metadata();
  }
}
