import { Metadata, status as Status } from "@grpc/grpc-js";
import type { ActiveCalls } from "./active-calls.js";
import type { ServerEnv } from "./config.js";
import type { Logger } from "./logger.js";

/** The message streams receive when the server ends them during shutdown. */
export const SHUTDOWN_MESSAGE = "server is shutting down; reconnect to resume";

/** What the shutdown sequence needs from a server, whatever its runtime. */
export interface Drainable {
  /** Turns health NOT_SERVING for every service. */
  setNotServing(): void;
  /** Stops accepting connections and calls (GOAWAY); calls already running go on. */
  stopAccepting(): void;
  /** Resolves once every connection has closed by itself. */
  closed(): Promise<void>;
  /** Cuts every connection that is still open. */
  forceClose(): void;
}

export type ShutdownTimings = Pick<ServerEnv, "SHUTDOWN_DELAY_MS" | "SHUTDOWN_DRAIN_MS" | "SHUTDOWN_TIMEOUT_MS">;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * The one shutdown sequence of every polyrpc server: health NOT_SERVING, keep answering for
 * SHUTDOWN_DELAY_MS so health checkers notice, stop accepting, let unary calls finish, end streams
 * still open at SHUTDOWN_DRAIN_MS with UNAVAILABLE, and cut whatever is left at
 * SHUTDOWN_TIMEOUT_MS (counted from the signal).
 */
export async function drain(server: Drainable, calls: ActiveCalls, timings: ShutdownTimings, log: Logger) {
  const { SHUTDOWN_DELAY_MS: delayMs, SHUTDOWN_DRAIN_MS: drainMs, SHUTDOWN_TIMEOUT_MS: timeoutMs } = timings;
  const started = Date.now();
  const left = () => Math.max(0, timeoutMs - (Date.now() - started));
  server.setNotServing();
  log.info({ activeCalls: calls.size, delayMs, drainMs, timeoutMs }, "shutting down");
  if (delayMs > 0) await sleep(Math.min(delayMs, left()));
  server.stopAccepting();
  const closed = server.closed();

  await Promise.race([calls.whenIdle(), sleep(Math.max(0, drainMs - (Date.now() - started)))]);
  const ended = calls.endStreams({ code: Status.UNAVAILABLE, details: SHUTDOWN_MESSAGE, metadata: new Metadata() });
  if (ended > 0) log.info({ streams: ended }, "ended streams at the drain deadline");

  await Promise.race([calls.whenIdle(), sleep(left())]);
  // Every tracked call has sent its status; give connections a moment to flush it, then cut what
  // remains (health Watch and reflection streams are not waited for).
  await Promise.race([closed, sleep(Math.min(1000, left()))]);
  if (calls.size > 0) log.warn({ activeCalls: calls.size }, "cutting calls at the shutdown timeout");
  server.forceClose();
  log.info({ ms: Date.now() - started }, "server stopped");
  // The logger buffers lines for up to 100 ms: the last ones go out now, exit or not.
  log.flush();
}
