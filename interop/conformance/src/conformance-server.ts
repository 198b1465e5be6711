import { createRegistry } from "@bufbuild/protobuf";
import {
  type Logger,
  type ServerTls,
  callPipelineEnvShape,
  checkAuthEnv,
  loadConfig,
  serverEnvSchema,
  startCallPipeline,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { startConnectServer } from "@polyrpc/server-kit/connect";
import { connectConformanceService } from "./connect-conformance-service.js";
import { HTTPVersion, Protocol } from "./gen/connectrpc/conformance/v1/config_pb.js";
import type { ServerCompatRequest } from "./gen/connectrpc/conformance/v1/server_compat_pb.js";
import {
  ConformanceService,
  file_connectrpc_conformance_v1_service,
} from "./gen/connectrpc/conformance/v1/service_pb.js";
import { grpcConformanceService } from "./grpc-js-conformance-service.js";

/** The server runtimes the conformance suite runs against. */
export const RUNTIMES = ["grpc-js", "connect"] as const;
export type Runtime = (typeof RUNTIMES)[number];

export function isRuntime(value: string): value is Runtime {
  return (RUNTIMES as readonly string[]).includes(value);
}

const configSchema = serverEnvSchema.extend(callPipelineEnvShape).superRefine(checkAuthEnv);

/**
 * The server's configuration: the kit's defaults and its whole call pipeline (tracing, metrics,
 * authentication, rate limits, validation), with what the conformance runner needs changed.
 */
function conformanceConfig(request: ServerCompatRequest) {
  return loadConfig(configSchema, {
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    // The metrics port (the RPC port is bound to 127.0.0.1 as well): nothing outside this machine.
    HOST: "127.0.0.1",
    // The reference client sends no credentials.
    POLYRPC_ENV: "development",
    AUTH_MODE: "off",
    // The runner starts several servers at once: each serves its metrics on a port of its own.
    METRICS_PORT: "0",
    // The runner is one anonymous caller sending hundreds of calls a second.
    RATE_LIMIT_UNARY_PER_S: "0",
    RATE_LIMIT_STREAMS_PER_S: "0",
    RATE_LIMIT_MESSAGES_PER_S: "0",
    // The runner stops each server with SIGTERM when its cases are done; nothing is left to drain.
    SHUTDOWN_DRAIN_MS: "0",
    SHUTDOWN_TIMEOUT_MS: "1000",
    ...(request.messageReceiveLimit > 0 && { MAX_RECEIVE_MESSAGE_BYTES: String(request.messageReceiveLimit) }),
  });
}

/** Thrown for a ServerCompatRequest the runtime cannot serve; the runner's config should not ask. */
export class UnsupportedRequestError extends Error {
  override readonly name = "UnsupportedRequestError";
}

export interface ConformanceServer {
  readonly port: number;
  /** The certificate clients must trust, when the server speaks TLS. */
  readonly pemCert: Uint8Array | undefined;
  shutdown(): Promise<void>;
}

function tlsOf(request: ServerCompatRequest): ServerTls | undefined {
  if (!request.useTls) return undefined;
  const creds = request.serverCreds;
  if (!creds) throw new UnsupportedRequestError("use_tls is set without server_creds");
  const tls: ServerTls = { cert: Buffer.from(creds.cert), key: Buffer.from(creds.key) };
  // A client certificate to trust: the kit's mTLS, which refuses clients without one it signed.
  if (request.clientTlsCert.length > 0) tls.clientCa = Buffer.from(request.clientTlsCert);
  return tls;
}

/**
 * Starts `connectrpc.conformance.v1.ConformanceService` on the kit's server for `runtime`, as
 * `request` asks: TLS (and client certificates) with the runner's credentials, the message
 * receive limit, and the kit's call pipeline on every call.
 */
export async function startConformanceServer(
  runtime: Runtime,
  request: ServerCompatRequest,
  log: Logger,
): Promise<ConformanceServer> {
  if (request.httpVersion === HTTPVersion.HTTP_VERSION_3) throw new UnsupportedRequestError("HTTP/3 is not served");
  if (
    runtime === "grpc-js" &&
    (request.protocol !== Protocol.GRPC || request.httpVersion !== HTTPVersion.HTTP_VERSION_2)
  ) {
    throw new UnsupportedRequestError("the grpc-js server speaks gRPC over HTTP/2 only");
  }
  const config = conformanceConfig(request);
  const tls = tlsOf(request);
  const pipeline = await startCallPipeline(config, { serviceName: `conformance-${runtime}`, log });
  const files = [file_connectrpc_conformance_v1_service];
  const common = { host: "127.0.0.1", port: 0, files, limits: config, log, hooks: pipeline.hooks, ...(tls && { tls }) };
  const server =
    runtime === "grpc-js"
      ? await startGrpcServer({ ...common, services: [grpcConformanceService()] })
      : await startConnectServer({
          ...common,
          services: [connectConformanceService()],
          // The JSON codec needs the types that google.protobuf.Any fields hold (the echoed
          // requests, the error details): the service's own.
          jsonOptions: { registry: createRegistry(file_connectrpc_conformance_v1_service) },
        });
  return {
    port: server.port,
    pemCert: tls?.cert,
    async shutdown() {
      await server.shutdown();
      await pipeline.stop();
    },
  };
}
