import type { ChannelOptions } from "@grpc/grpc-js";
import { protoFiles, UserService } from "@polyrpc/proto";
import type { CallHook } from "../src/call-hooks.js";
import { type GrpcClient, createGrpcClient } from "@polyrpc/grpc-client";
import { startConnectServer } from "../src/connect/index.js";
import { type ServiceHandlers, implementService } from "../src/call-context.js";
import { startGrpcServer } from "../src/grpc-js/index.js";
import { serverEnvSchema } from "../src/config.js";
import { createLogger, type Logger } from "../src/logger.js";

/** The two runtimes every edge behaviour must agree on. */
export const RUNTIMES = ["grpc-js", "connect"] as const;
export type Runtime = (typeof RUNTIMES)[number];

export interface UserServiceOnOptions {
  hooks?: CallHook[];
  /** Server variables on top of a quick shutdown (SHUTDOWN_DRAIN_MS=0, SHUTDOWN_TIMEOUT_MS=1000). */
  env?: Record<string, string>;
  log?: Logger;
  /** Options of the grpc-js client the helper opens. */
  clientOptions?: ChannelOptions;
}

export interface UserServiceOn {
  /** `127.0.0.1:port` */
  address: string;
  /** A grpc-js client of the server. */
  client: GrpcClient<typeof UserService>;
  stop(): Promise<void>;
}

/**
 * Serves a (partial) UserService implementation, written once in the kit's handler shape, on the
 * kit's grpc-js server or its connect-node server, so that one table of cases runs on both.
 */
export async function startUserServiceOn(
  runtime: Runtime,
  impl: object,
  { hooks, env = {}, log, clientOptions }: UserServiceOnOptions = {},
): Promise<UserServiceOn> {
  const common = {
    host: "127.0.0.1",
    port: 0,
    files: protoFiles,
    limits: serverEnvSchema.parse({ SHUTDOWN_DRAIN_MS: "0", SHUTDOWN_TIMEOUT_MS: "1000", ...env }),
    log: log ?? createLogger({ name: `${runtime}-test`, level: "silent" }),
    hooks,
  };
  const server =
    runtime === "grpc-js"
      ? await startGrpcServer({
          ...common,
          services: [implementService(UserService, impl as unknown as ServiceHandlers<typeof UserService>)],
        })
      : await startConnectServer({
          ...common,
          services: [implementService(UserService, impl as never)],
        });
  const client = createGrpcClient(UserService, server.address, { channelOptions: clientOptions });
  return {
    address: server.address,
    client,
    async stop() {
      client.close();
      await server.shutdown();
    },
  };
}
