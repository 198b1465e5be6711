import { constants as http2Constants, type Http2Session } from "node:http2";
import type { ServerLimits } from "../config.js";
import { guardSession, type ResetBudget } from "../http2-session-guard.js";
import type { Logger } from "../logger.js";

/**
 * What grpc-js does for its own connections, done for connect-node's: GOAWAY after the maximum
 * connection age (so channels rebalance), a hard close after the grace period, and keepalive pings
 * that close a connection whose peer stopped answering; plus the limits every polyrpc server puts
 * on a connection (guardSession: handshake timeout, rapid-reset bound).
 */
export function manageSession(session: Http2Session, limits: ServerLimits, resets: ResetBudget, log: Logger): void {
  guardSession(session, limits, resets, log);
  const timers: NodeJS.Timeout[] = [];
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
}
