import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/**
 * Ends `res` with `status` and no body. Both response types have `writeHead(status)`, but their
 * overloads differ, so TypeScript cannot call it on the union directly.
 */
export function respondEmpty(res: Res, status: number): void {
  (res as ServerResponse).writeHead(status).end();
}

/**
 * CORS for browser clients of gRPC-Web and Connect, for the configured origins only ("*" allows
 * any). Returns true when it answered the request itself (a preflight).
 */
export function applyCors(allowedOrigins: readonly string[], req: Req, res: Res): boolean {
  const origin = req.headers.origin;
  if (!origin || allowedOrigins.length === 0) return false;
  const allowed = allowedOrigins.includes("*") || allowedOrigins.includes(origin);
  if (!allowed) {
    // Not an allowed origin: no CORS headers, so the browser blocks the response; a preflight
    // gets a plain 403.
    if (req.method === "OPTIONS") {
      respondEmpty(res, 403);
      return true;
    }
    return false;
  }
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Vary", "Origin");
  res.setHeader("Access-Control-Expose-Headers", connectCors.exposedHeaders.join(", "));
  if (req.method === "OPTIONS") {
    res.setHeader("Access-Control-Allow-Methods", connectCors.allowedMethods.join(", "));
    res.setHeader(
      "Access-Control-Allow-Headers",
      [...connectCors.allowedHeaders, "Authorization", "Traceparent"].join(", "),
    );
    res.setHeader("Access-Control-Max-Age", "7200");
    respondEmpty(res, 204);
    return true;
  }
  return false;
}
