import { serverEnvSchema, type Logger, type ServerLimits } from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { startConnectServer } from "@polyrpc/server-kit/connect";
import { file_grpc_testing_test } from "./gen/grpc/testing/test_pb.js";
import { implementedTestService } from "./test-service-handlers.js";

/** The server runtimes the TestService runs on. */
export const RUNTIMES = ["grpc-js", "connect"] as const;
export type Runtime = (typeof RUNTIMES)[number];

export function isRuntime(value: string): value is Runtime {
  return (RUNTIMES as readonly string[]).includes(value);
}

export interface TestServerOptions {
  runtime: Runtime;
  host: string;
  /** 0 picks a free port; `TestServer.port` tells which. */
  port: number;
  log: Logger;
  /** The kit's defaults when omitted. */
  limits?: ServerLimits;
}

/** A running TestService. */
export interface TestServer {
  readonly port: number;
  /** The kit's graceful shutdown. */
  shutdown(): Promise<void>;
}

/**
 * Serves `grpc.testing.TestService` (with the kit's health and reflection) on the kit's grpc-js
 * server or on its connect-node server.
 */
export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const { runtime, host, port, log } = options;
  const limits = options.limits ?? serverEnvSchema.parse({});
  const files = [file_grpc_testing_test];
  switch (runtime) {
    case "grpc-js":
      return startGrpcServer({ host, port, services: [implementedTestService()], files, limits, log });
    case "connect":
      return startConnectServer({
        host,
        port,
        services: [implementedTestService()],
        files,
        limits,
        log,
      });
  }
}
