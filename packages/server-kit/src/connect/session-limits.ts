import { constants as http2Constants, type Http2Session, type ServerHttp2Stream } from "node:http2";
import type { ServerLimits } from "../grpc-server.js";
import type { Logger } from "../logger.js";

/**
 * A stream its client reset this soon after opening it is a premature reset: the pattern of the
 * HTTP/2 "rapid reset" attack (CVE-2023-44487), where each reset stream still costs the server a
 * handler start. Envoy's definition, and its default.
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
 * What grpc-js does for its own connections, done for connect-node's, and more:
 * - a handshake timeout: a session whose client has not sent the HTTP/2 preface and its SETTINGS
 *   within HANDSHAKE_TIMEOUT_MS is destroyed (the TLS handshake and the plaintext sniffing before it
 *   have their own timers, see connect-server.ts);
 * - GOAWAY after the maximum connection age (so channels rebalance), a hard close after the grace;
 * - keepalive pings that close a connection whose peer stopped answering;
 * - the stream-churn bound above against rapid resets.
 */
export function manageSession(session: Http2Session, limits: ServerLimits, resets: ResetBudget, log: Logger): void {
  const timers: NodeJS.Timeout[] = [];
  const handshake = setTimeout(() => session.destroy(), limits.HANDSHAKE_TIMEOUT_MS).unref();
  session.once("remoteSettings", () => clearTimeout(handshake));
  timers.push(handshake);
  // ±10% jitter, as gRPC recommends, so a fleet's connections do not all recycle at once.
  const age = limits.MAX_CONNECTION_AGE_MS * (0.9 + Math.random() * 0.2);
  timers.push(
    setTimeout(() => {
      session.close();
      timers.push(setTimeout(() => session.destroy(), limits.MAX_CONNECTION_AGE_GRACE_MS).unref());
    }, age).unref(),
  );
  timers.push(
    setInterval(() => {
      if (session.closed || session.destroyed) return;
      const deadline = setTimeout(
        () => session.destroy(new Error("keepalive timeout"), http2Constants.NGHTTP2_PROTOCOL_ERROR),
        limits.KEEPALIVE_TIMEOUT_MS,
      ).unref();
      try {
        session.ping(() => clearTimeout(deadline));
      } catch {
        clearTimeout(deadline);
      }
    }, limits.KEEPALIVE_TIME_MS).unref(),
  );
  session.once("close", () => timers.forEach((t) => clearTimeout(t)));

  let opened = 0;
  let prematureResets = 0;
  session.on("stream", (stream: ServerHttp2Stream) => {
    opened++;
    const openedAt = Date.now();
    stream.once("aborted", () => {
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
