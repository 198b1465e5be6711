import type { Http2Session } from "node:http2";
import { Server, ServerCredentials, type ChannelOptions } from "@grpc/grpc-js";
import type { DescFile } from "@bufbuild/protobuf";
import { ActiveCalls } from "./active-calls.js";
import type { ServerEnv } from "./config.js";
import type { GrpcService } from "./grpc-service.js";
import { guardSession, ResetBudget } from "./http2-session-guard.js";
import { Health, HEALTH_SERVICE_NAME } from "./health.js";
import type { Logger } from "./logger.js";
import { addReflection } from "./reflection.js";
import type { CallHook } from "./call-hooks.js";
import type { ServerTls } from "./server-tls.js";
import { drain } from "./shutdown.js";

/** Limits and timings of a server; every field has a default in serverEnvSchema. */
export type ServerLimits = Pick<
  ServerEnv,
  | "MAX_RECEIVE_MESSAGE_BYTES"
  | "MAX_SEND_MESSAGE_BYTES"
  | "MAX_CONCURRENT_STREAMS"
  | "MAX_METADATA_BYTES"
  | "MAX_METADATA_ENTRIES"
  | "MAX_CONNECTION_AGE_MS"
  | "MAX_CONNECTION_AGE_GRACE_MS"
  | "KEEPALIVE_TIME_MS"
  | "KEEPALIVE_TIMEOUT_MS"
  | "HANDSHAKE_TIMEOUT_MS"
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
  /** TLS (and mTLS) on the port; plaintext when omitted. See `serverTls`. */
  tls?: ServerTls;
  /** Echo the gRPC interop test headers; for interop runs only. */
  echoTestMetadata?: boolean;
  /** Steps every call of `services` goes through before its handler (auth, validation, limits, metrics). */
  hooks?: readonly CallHook[];
  /**
   * The message of the line logged once the port is bound ("gRPC server listening"), which tools
   * read the port from; a process that is one of several on a shared port says something else.
   */
  listeningMessage?: string;
}

/** grpc-js channel options for a server's limits; `log` hears of connections closed by them. */
export function grpcServerOptions(limits: ServerLimits, log: Logger): ChannelOptions {
  const resets = new ResetBudget();
  return {
    // Called with every new HTTP/2 session by the project's patch of grpc-js (patches/):
    // the handshake timeout and the rapid-reset bound every polyrpc server has.
    "grpc-node.session_listener": (session: Http2Session) => guardSession(session, limits, resets, log),
    "grpc.max_receive_message_length": limits.MAX_RECEIVE_MESSAGE_BYTES,
    "grpc.max_send_message_length": limits.MAX_SEND_MESSAGE_BYTES,
    "grpc.max_concurrent_streams": limits.MAX_CONCURRENT_STREAMS,
    // The metadata bound, as HTTP/2 settings of the server's sessions (the project's patch: grpc-js
    // has no option of its own for it on a server). Node refuses a request past either.
    "grpc-node.header_limits": {
      maxHeaderListSize: limits.MAX_METADATA_BYTES,
      maxHeaderListPairs: limits.MAX_METADATA_ENTRIES,
    },
    "grpc.max_connection_age_ms": limits.MAX_CONNECTION_AGE_MS,
    "grpc.max_connection_age_grace_ms": limits.MAX_CONNECTION_AGE_GRACE_MS,
    "grpc.keepalive_time_ms": limits.KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": limits.KEEPALIVE_TIMEOUT_MS,
    // Channelz (per-call counters for grpc-js's debugging service, which the kit does not serve)
    // cost ~5% of a unary call's CPU in the bench's profile.
    "grpc.enable_channelz": 0,
  };
}

/** A running grpc-js server with health, reflection and graceful shutdown. */
export class GrpcServerHandle {
  private shutdownPromise: Promise<void> | undefined;
  private closedPromise: Promise<void> | undefined;

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
   * Drains and stops the server (see `drain` in shutdown.ts). Resolves when the server is closed.
   * Idempotent.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= drain(
      {
        setNotServing: () => this.health.setServing(false),
        stopAccepting: () => {
          // Closes the listeners and sends GOAWAY; tryShutdown's callback fires once all is closed.
          this.closedPromise = new Promise((resolve) => this.server.tryShutdown(() => resolve()));
        },
        closed: () => this.closedPromise ?? Promise.resolve(),
        forceClose: () => this.server.forceShutdown(),
      },
      this.activeCalls,
      this.limits,
      this.log,
    );
    return this.shutdownPromise;
  }
}

/** Starts a grpc-js server with the given services, grpc.health.v1 and reflection (v1, v1alpha). */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { host, port, services, files, limits, log, tls } = options;
  const server = new Server(grpcServerOptions(limits, log));
  const activeCalls = new ActiveCalls();
  const health = new Health(services.map((s) => s.descriptor.typeName));
  for (const service of services) {
    const { definition, implementation } = service.register({
      log,
      activeCalls,
      echoTestMetadata: options.echoTestMetadata ?? false,
      hooks: options.hooks,
    });
    server.addService(definition, implementation);
  }
  health.addToServer(server);
  addReflection(server, files, [...services.map((s) => s.descriptor.typeName), HEALTH_SERVICE_NAME]);

  const credentials = tls
    ? ServerCredentials.createSsl(
        tls.clientCa ?? null,
        [{ cert_chain: tls.cert, private_key: tls.key }],
        !!tls.clientCa,
      )
    : ServerCredentials.createInsecure();
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info(
    {
      host,
      port: boundPort,
      tls: tls ? (tls.clientCa ? "mtls" : "tls") : "off",
      services: services.map((s) => s.descriptor.typeName),
    },
    options.listeningMessage ?? "gRPC server listening",
  );
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
