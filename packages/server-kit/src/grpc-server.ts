import { Metadata, Server, ServerCredentials, status as Status, type ChannelOptions } from "@grpc/grpc-js";
import type { DescFile } from "@bufbuild/protobuf";
import { ActiveCalls } from "./active-calls.js";
import type { ServerEnv } from "./config.js";
import type { GrpcService } from "./grpc-service.js";
import { Health, HEALTH_SERVICE_NAME } from "./health.js";
import type { Logger } from "./logger.js";
import { addReflection } from "./reflection.js";

/** Limits and timings of a server; every field has a default in serverEnvSchema. */
export type ServerLimits = Pick<
  ServerEnv,
  | "MAX_RECEIVE_MESSAGE_BYTES"
  | "MAX_SEND_MESSAGE_BYTES"
  | "MAX_CONCURRENT_STREAMS"
  | "MAX_CONNECTION_AGE_MS"
  | "MAX_CONNECTION_AGE_GRACE_MS"
  | "KEEPALIVE_TIME_MS"
  | "KEEPALIVE_TIMEOUT_MS"
  | "SHUTDOWN_DELAY_MS"
  | "SHUTDOWN_DRAIN_MS"
  | "SHUTDOWN_TIMEOUT_MS"
>;

export interface GrpcServerOptions {
  host: string;
  /** 0 picks a free port; `GrpcServerHandle.port` tells which. */
  port: number;
  services: readonly GrpcService[];
  /** The generated files the services come from, for reflection. */
  files: readonly DescFile[];
  limits: ServerLimits;
  log: Logger;
}

/** The message streams receive when the server ends them during shutdown. */
export const SHUTDOWN_MESSAGE = "server is shutting down; reconnect to resume";

/** grpc-js channel options for a server's limits. */
export function grpcServerOptions(limits: ServerLimits): ChannelOptions {
  return {
    "grpc.max_receive_message_length": limits.MAX_RECEIVE_MESSAGE_BYTES,
    "grpc.max_send_message_length": limits.MAX_SEND_MESSAGE_BYTES,
    "grpc.max_concurrent_streams": limits.MAX_CONCURRENT_STREAMS,
    "grpc.max_connection_age_ms": limits.MAX_CONNECTION_AGE_MS,
    "grpc.max_connection_age_grace_ms": limits.MAX_CONNECTION_AGE_GRACE_MS,
    "grpc.keepalive_time_ms": limits.KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": limits.KEEPALIVE_TIMEOUT_MS,
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** A running grpc-js server with health, reflection and graceful shutdown. */
export class GrpcServerHandle {
  private shutdownPromise: Promise<void> | undefined;

  constructor(
    readonly server: Server,
    readonly port: number,
    readonly health: Health,
    readonly activeCalls: ActiveCalls,
    private readonly limits: ServerLimits,
    private readonly log: Logger,
  ) {}

  /** `host:port` clients on this machine can dial. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Drains and stops the server: health turns NOT_SERVING (and the server keeps answering for
   * SHUTDOWN_DELAY_MS so health checkers see it), new calls are refused, unary calls run
   * to completion, streams still open after SHUTDOWN_DRAIN_MS end with UNAVAILABLE, and whatever
   * is left at SHUTDOWN_TIMEOUT_MS is cut. Resolves when the server is closed. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.drain();
    return this.shutdownPromise;
  }

  private async drain(): Promise<void> {
    const { SHUTDOWN_DELAY_MS: delayMs, SHUTDOWN_DRAIN_MS: drainMs, SHUTDOWN_TIMEOUT_MS: timeoutMs } = this.limits;
    const started = Date.now();
    this.health.setServing(false);
    this.log.info({ activeCalls: this.activeCalls.size, delayMs, drainMs, timeoutMs }, "shutting down");
    if (delayMs > 0) await sleep(delayMs);
    // Closes the listeners and sends GOAWAY: calls already running go on, new ones are refused.
    const closed = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));

    await Promise.race([this.activeCalls.whenIdle(), sleep(drainMs)]);
    const ended = this.activeCalls.endStreams({
      code: Status.UNAVAILABLE,
      details: SHUTDOWN_MESSAGE,
      metadata: new Metadata(),
    });
    if (ended > 0) this.log.info({ streams: ended }, "ended streams at the drain deadline");

    const left = Math.max(0, timeoutMs - (Date.now() - started));
    await Promise.race([this.activeCalls.whenIdle(), sleep(left)]);
    // Every tracked call has sent its status; give the connections a moment to flush it, then cut
    // what remains (health Watch and reflection streams are not waited for).
    await Promise.race([closed, sleep(Math.min(1000, Math.max(0, timeoutMs - (Date.now() - started))))]);
    if (this.activeCalls.size > 0)
      this.log.warn({ activeCalls: this.activeCalls.size }, "cutting calls at the shutdown timeout");
    this.server.forceShutdown();
    this.log.info({ ms: Date.now() - started }, "server stopped");
  }
}

/** Starts a grpc-js server with the given services, grpc.health.v1 and reflection (v1, v1alpha). */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { host, port, services, files, limits, log } = options;
  const server = new Server(grpcServerOptions(limits));
  const activeCalls = new ActiveCalls();
  const health = new Health(services.map((s) => s.descriptor.typeName));
  for (const service of services) {
    const { definition, implementation } = service.register({ log, activeCalls });
    server.addService(definition, implementation);
  }
  health.addToServer(server);
  addReflection(server, files, [...services.map((s) => s.descriptor.typeName), HEALTH_SERVICE_NAME]);

  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  log.info({ host, port: boundPort, services: services.map((s) => s.descriptor.typeName) }, "gRPC server listening");
  return new GrpcServerHandle(server, boundPort, health, activeCalls, limits, log);
}

/**
 * Runs `shutdown` on the first SIGTERM or SIGINT and exits when it resolves; a second signal exits
 * at once.
 */
export function exitOnSignals(shutdown: () => Promise<void>, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "signal received");
    shutdown().then(
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
