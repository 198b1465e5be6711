import { constants as http2Constants, type Http2Session, type ServerHttp2Stream } from "node:http2";
import type { ServerEnv } from "./config.js";
import type { Logger } from "./logger.js";

/**
 * A stream reset (RST_STREAM CANCEL) this soon after it was opened is a premature reset: the
 * pattern of the HTTP/2 "rapid reset" attack (CVE-2023-44487), where each reset stream still costs
 * the server a handler start. Envoy's definition, and its default.
 */
export const PREMATURE_RESET_MS = 1000;
/**
 * A connection is closed (GOAWAY ENHANCE_YOUR_CALM) once its client has prematurely reset this
 * many streams and they are more than half of the streams it opened. A client cancelling now and
 * then, even on a connection that lives for days, never gets there.
 */
export const CONNECTION_PREMATURE_RESETS = 100;
/**
 * Premature resets the whole server takes per second, over every connection. Past it, a
 * connection that resets another stream prematurely is closed at once: flooding from many
 * connections (each under its own bound) cannot keep the event loop busy either.
 */
export const SERVER_PREMATURE_RESETS_PER_SECOND = 500;

/** The server-wide count of premature resets over the last second, shared by every connection. */
export class ResetBudget {
  private windowStart = 0;
  private count = 0;

  constructor(private readonly perSecond = SERVER_PREMATURE_RESETS_PER_SECOND) {}

  /** Records one premature reset; false once the server is over its budget for this second. */
  take(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count <= this.perSecond;
  }
}

/**
 * The size of a header list as HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE counts it, and as Node
 * holds a stream to it: every name and value, plus 32 bytes per entry. `rawHeaders` is the flat
 * `[name, value, ...]` list of a 'stream' event; Node reads header bytes as one-byte strings, so a
 * string's length is its size in bytes.
 */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (const field of rawHeaders) size += field.length;
  return size + (rawHeaders.length / 2) * 32;
}

/**
 * Limits every polyrpc server puts on each HTTP/2 connection, on either runtime (the connect
 * server calls it for its sessions; grpc-js through the `grpc-node.session_listener` option of the
 * project's patch, see grpc-js/session-limits.ts):
 * - a handshake timeout: a session whose client has not sent the HTTP/2 preface and its SETTINGS
 *   within HANDSHAKE_TIMEOUT_MS is destroyed;
 * - the metadata bound (MAX_METADATA_BYTES) from a connection's first stream on: Node holds a
 *   stream's headers to the server's SETTINGS_MAX_HEADER_LIST_SIZE only once the client has
 *   acknowledged those settings, so headers sent with the connection's first bytes (or by a client
 *   that never acknowledges) would get past it. A stream whose headers are over it is reset with
 *   ENHANCE_YOUR_CALM, as Node resets one after the acknowledgement (clients see
 *   RESOURCE_EXHAUSTED either way), before any handler sees it. (The entry count,
 *   MAX_METADATA_ENTRIES, Node holds from the start.)
 * - a bound on stream churn against rapid resets: a connection whose client prematurely reset
 *   CONNECTION_PREMATURE_RESETS streams, more than half of those it opened, or that resets one
 *   while the whole server is over SERVER_PREMATURE_RESETS_PER_SECOND, gets GOAWAY
 *   ENHANCE_YOUR_CALM and is closed.
 */
export function guardSession(
  session: Http2Session,
  limits: Pick<ServerEnv, "HANDSHAKE_TIMEOUT_MS" | "MAX_METADATA_BYTES">,
  resets: ResetBudget,
  log: Logger,
): void {
  const handshake = setTimeout(() => session.destroy(), limits.HANDSHAKE_TIMEOUT_MS).unref();
  session.once("remoteSettings", () => clearTimeout(handshake));
  session.once("close", () => clearTimeout(handshake));

  // Before the server's own listener, which hands the stream to grpc-js or to connect-node.
  session.prependListener("stream", (stream: ServerHttp2Stream, _headers, _flags, rawHeaders: string[]) => {
    if (headerListSize(rawHeaders) > limits.MAX_METADATA_BYTES) stream.close(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  let opened = 0;
  let prematureResets = 0;
  session.on("stream", (stream: ServerHttp2Stream) => {
    opened++;
    const openedAt = Date.now();
    // A reset is counted whether it came before the handler answered or while the answer was
    // still going out: either way the stream cost a handler start and was thrown away.
    stream.once("close", () => {
      if (stream.rstCode !== http2Constants.NGHTTP2_CANCEL) return;
      const now = Date.now();
      if (now - openedAt > PREMATURE_RESET_MS) return;
      prematureResets++;
      const serverOver = !resets.take(now);
      const connectionOver = prematureResets >= CONNECTION_PREMATURE_RESETS && prematureResets * 2 > opened;
      if ((serverOver || connectionOver) && !session.destroyed) {
        log.warn(
          { remoteAddress: session.socket?.remoteAddress, streams: opened, prematureResets, serverOver },
          "closing a connection that resets streams as fast as it opens them",
        );
        closeForChurn(session);
      }
    });
  });
}

/** GOAWAY with ENHANCE_YOUR_CALM (clients see why), then the connection is gone. */
function closeForChurn(session: Http2Session): void {
  try {
    session.goaway(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
  } catch {
    // Already closing.
  }
  session.destroy();
}
