import { ActiveCalls } from "./active-calls.js";
import type { ServerEnv } from "./config.js";
import type { Logger } from "./logger.js";
import { StatusCode } from "./status-code.js";

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
  const ended = calls.endStreams({ code: StatusCode.UNAVAILABLE, details: SHUTDOWN_MESSAGE });
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

/** A server's grpc.health.v1 statuses, as its handle turns them. */
export interface ServingHealth {
  readonly isServing: boolean;
  /** Every served service (and the server, "") SERVING or NOT_SERVING. */
  setServing(serving: boolean): void;
}

/** How a runtime's server stops: the part of `Drainable` that is not health. */
export type ServerStop = Omit<Drainable, "setNotServing">;

/**
 * A running polyrpc server, whatever its runtime: its port, its health, the calls it runs, and the
 * one shutdown sequence (`drain`).
 */
export class ServerHandle {
  private shutdownPromise: Promise<void> | undefined;

  constructor(
    readonly port: number,
    /** True when the port speaks TLS. */
    readonly secure: boolean,
    readonly health: ServingHealth,
    readonly activeCalls: ActiveCalls,
    private readonly stop: ServerStop,
    private readonly timings: ShutdownTimings,
    private readonly log: Logger,
  ) {}

  /** `host:port` clients on this machine can dial. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http(s)://host:port`, the base URL connect transports take. */
  get baseUrl(): string {
    return `${this.secure ? "https" : "http"}://${this.address}`;
  }

  /** Stops at once: no drain, every connection cut (tests that play a replica dying). */
  forceShutdown(): void {
    this.health.setServing(false);
    this.stop.stopAccepting();
    this.stop.forceClose();
  }

  /** Drains and stops the server (see `drain`). Resolves when it is closed. Idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= drain(
      { setNotServing: () => this.health.setServing(false), ...this.stop },
      this.activeCalls,
      this.timings,
      this.log,
    );
    return this.shutdownPromise;
  }
}

export interface SignalOptions {
  /**
   * What a signal after the first does: "exit" (the default) exits 1 at once; "ignore" lets the
   * shutdown go on (a cluster worker, whose primary forwards the signal a terminal also sent it).
   */
  again?: "exit" | "ignore";
  /** Runs before a second signal's exit (a cluster primary killing its workers). */
  beforeForcedExit?(): void;
}

/**
 * The one signal handler of every polyrpc process: runs `shutdown` on the first SIGTERM or SIGINT
 * and exits 0 when it resolves (1 when it fails); a second signal exits 1 at once, unless told to
 * ignore it.
 */
export function exitOnSignals(
  shutdown: (signal: NodeJS.Signals) => Promise<void>,
  log: Logger,
  options: SignalOptions = {},
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (options.again === "ignore") return;
      log.warn({ signal }, "second signal: exiting now");
      options.beforeForcedExit?.();
      log.flush(() => process.exit(1));
      return;
    }
    stopping = true;
    log.info({ signal }, "signal received");
    shutdown(signal).then(
      () => log.flush(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
