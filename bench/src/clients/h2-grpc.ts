/**
 * gRPC over Node's own HTTP/2 client, for the fan-out load processes: the same requests and
 * responses on the wire as any gRPC client (length-prefixed protobuf, `grpc-status` in the
 * trailers), at a fraction of a full client's CPU per message, so that one core of load can keep
 * up with what the chat sends. Plaintext (h2c) only; no compression, deadlines or retries.
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from "node:http2";

/** An HTTP/2 connection to `host:port`; its errors surface on the streams. */
export function h2Session(target: string): ClientHttp2Session {
  const session = connect(`http://${target}`);
  session.on("error", () => {});
  return session;
}

/** Starts a call of `path` (`/package.Service/Method`) with one request message (a gRPC frame). */
export function startCall(session: ClientHttp2Session, path: string, request: Uint8Array): ClientHttp2Stream {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(request);
  return stream;
}

/** The call's failure from its trailers (or trailers-only headers), undefined for OK or none yet. */
export function grpcFailure(headers: IncomingHttpHeaders): string | undefined {
  const code = headers["grpc-status"];
  if (code === undefined || code === "0") return undefined;
  return `grpc-status ${String(code)}: ${decodeURIComponent(String(headers["grpc-message"] ?? ""))}`;
}

/**
 * Calls `onMessage` with each gRPC message of a response as its DATA arrives, messages split
 * across DATA frames included. Throws on a compressed message (none is asked for).
 */
export function readMessages(stream: ClientHttp2Stream, onMessage: (bytes: Buffer) => void): void {
  let pending: Buffer | undefined;
  stream.on("data", (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    while (buf.length >= 5) {
      const length = buf.readUInt32BE(1);
      if (buf.length < 5 + length) break;
      if (buf[0] !== 0) throw new Error(`unexpected gRPC message flag ${buf[0]} (compressed?)`);
      onMessage(buf.subarray(5, 5 + length));
      buf = buf.subarray(5 + length);
    }
    if (buf.length > 0) pending = Buffer.from(buf);
  });
}

/** A unary call: resolves once it ends with OK, rejects with its status otherwise (or when it takes `timeoutMs`). */
export function unaryCall(
  session: ClientHttp2Session,
  path: string,
  request: Uint8Array,
  timeoutMs?: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = startCall(session, path, request);
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            failure ??= `no answer within ${timeoutMs} ms`;
            stream.close(constants.NGHTTP2_CANCEL);
          }, timeoutMs);
    let failure: string | undefined;
    let ok = false;
    const status = (headers: IncomingHttpHeaders) => {
      failure ??= grpcFailure(headers);
      if (!failure && headers["grpc-status"] === "0") ok = true;
    };
    stream.on("response", status);
    stream.on("trailers", status);
    stream.on("data", () => {}); // the answer's message: read, so that flow control moves on
    stream.on("error", (err) => (failure ??= err.message));
    stream.on("close", () => {
      clearTimeout(timer);
      if (ok && !failure) resolve();
      else reject(new Error(failure ?? "the call ended without a status"));
    });
  });
}
