import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";

/**
 * Percent-encodes a status message as the gRPC spec asks: only bytes outside printable ASCII
 * (0x20-0x7E) and '%' itself.
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function respell(headers: OutgoingHttpHeaders | undefined): void {
  const value = headers?.["grpc-message"];
  if (typeof value !== "string") return;
  try {
    headers!["grpc-message"] = encodeGrpcMessage(decodeURIComponent(value));
  } catch {
    // Not percent-encoding we can read: leave it as it is.
  }
}

/**
 * connect-node encodes `grpc-message` with encodeURIComponent, which also escapes characters such
 * as ':' and '$'; grpc-js clients decode with decodeURI, which leaves those escaped, so
 * `email: must be ...` would reach them as `email%3A must be ...`. Re-encoding the header as the
 * spec says makes a connect-node server's messages read the same as a grpc-js server's.
 */
export function respellGrpcMessages(res: ServerResponse | Http2ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => unknown;
  (res as { writeHead: (...args: unknown[]) => unknown }).writeHead = (...args: unknown[]) => {
    for (const arg of args) if (arg && typeof arg === "object") respell(arg as OutgoingHttpHeaders);
    return writeHead(...args);
  };
  const addTrailers = res.addTrailers.bind(res) as (headers: OutgoingHttpHeaders) => void;
  res.addTrailers = ((headers: OutgoingHttpHeaders) => {
    respell(headers);
    addTrailers(headers);
  }) as typeof res.addTrailers;
}
