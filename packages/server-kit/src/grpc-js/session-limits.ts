import type { Http2Session } from "node:http2";
import type { ChannelOptions } from "@grpc/grpc-js";
import type { ServerLimits } from "../config.js";
import { guardSession, ResetBudget } from "../http2-session-guard.js";
import type { Logger } from "../logger.js";

/**
 * The connection limits every polyrpc server has, as grpc-js channel options: the handshake
 * timeout and the rapid-reset bound (guardSession, on every new HTTP/2 session through the
 * project's patch of grpc-js, patches/), the metadata bound as HTTP/2 settings (also the patch's:
 * grpc-js has no option of its own for it on a server; Node refuses a request past either),
 * connection age and keepalive (grpc-js's own).
 */
export function sessionLimitOptions(limits: ServerLimits, log: Logger): ChannelOptions {
  const resets = new ResetBudget();
  return {
    "grpc-node.session_listener": (session: Http2Session) => guardSession(session, limits, resets, log),
    "grpc.max_concurrent_streams": limits.MAX_CONCURRENT_STREAMS,
    "grpc-node.header_limits": {
      maxHeaderListSize: limits.MAX_METADATA_BYTES,
      maxHeaderListPairs: limits.MAX_METADATA_ENTRIES,
    },
    "grpc.max_connection_age_ms": limits.MAX_CONNECTION_AGE_MS,
    "grpc.max_connection_age_grace_ms": limits.MAX_CONNECTION_AGE_GRACE_MS,
    "grpc.keepalive_time_ms": limits.KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": limits.KEEPALIVE_TIMEOUT_MS,
  };
}
