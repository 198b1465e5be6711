import { Server, ServerCredentials, type ChannelOptions } from "@grpc/grpc-js";
import type { DescFile } from "@bufbuild/protobuf";
import { grpcServiceDefinition } from "@polyrpc/grpc-client";
import { ActiveCalls } from "../active-calls.js";
import type { ImplementedService } from "../call-context.js";
import type { CallHook } from "../call-hooks.js";
import type { ServerLimits } from "../config.js";
import type { Logger } from "../logger.js";
import type { ServerTls } from "../server-tls.js";
import { ServerHandle } from "../shutdown.js";
import { Health, HEALTH_SERVICE_NAME } from "./health.js";
import { addReflection } from "./reflection.js";
import { grpcServiceImplementation } from "./service-adapter.js";
import { sessionLimitOptions } from "./session-limits.js";

export interface GrpcServerOptions {
  host: string;
  /** 0 picks a free port; `ServerHandle.port` tells which. */
  port: number;
  services: readonly ImplementedService[];
  /** The generated files the services come from, for reflection. */
  files: readonly DescFile[];
  limits: ServerLimits;
  log: Logger;
  /** TLS (and mTLS) on the port; plaintext when omitted. See `serverTls`. */
  tls?: ServerTls;
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
  return {
    ...sessionLimitOptions(limits, log),
    "grpc.max_receive_message_length": limits.MAX_RECEIVE_MESSAGE_BYTES,
    "grpc.max_send_message_length": limits.MAX_SEND_MESSAGE_BYTES,
    // Channelz (per-call counters for grpc-js's debugging service, which the kit does not serve)
    // cost ~5% of a unary call's CPU in the bench's profile.
    "grpc.enable_channelz": 0,
  };
}

/** Starts a grpc-js server with the given services, grpc.health.v1 and reflection (v1, v1alpha). */
export async function startGrpcServer(options: GrpcServerOptions): Promise<ServerHandle> {
  const { host, port, services, files, limits, log, tls } = options;
  const server = new Server(grpcServerOptions(limits, log));
  const activeCalls = new ActiveCalls();
  const serviceNames = services.map((s) => s.descriptor.typeName);
  const health = new Health(serviceNames);
  for (const service of services) {
    const implementation = grpcServiceImplementation(service, { log, activeCalls, hooks: options.hooks });
    server.addService(grpcServiceDefinition(service.descriptor), implementation);
  }
  health.addToServer(server);
  addReflection(server, files, [...serviceNames, HEALTH_SERVICE_NAME]);

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
    { host, port: boundPort, tls: tls ? (tls.clientCa ? "mtls" : "tls") : "off", services: serviceNames },
    options.listeningMessage ?? "gRPC server listening",
  );
  let closed: Promise<void> = Promise.resolve();
  return new ServerHandle(
    boundPort,
    !!tls,
    health,
    activeCalls,
    {
      // Closes the listeners and sends GOAWAY; tryShutdown's callback fires once all is closed.
      stopAccepting: () => void (closed = new Promise((resolve) => server.tryShutdown(() => resolve()))),
      closed: () => closed,
      forceClose: () => server.forceShutdown(),
    },
    limits,
    log,
  );
}
