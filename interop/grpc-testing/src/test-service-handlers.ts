import { implementService, type CallContext, type ImplementedService } from "@polyrpc/server-kit";
import { echoTestMetadata } from "./echo-test-metadata.js";
import { TestService } from "./gen/grpc/testing/test_pb.js";
import { createTestService } from "./test-service.js";

/**
 * `grpc.testing.TestService` for either of the kit's servers (`startGrpcServer`,
 * `startConnectServer`): one set of handlers, since both runtimes give them the same context.
 */
export function implementedTestService(): ImplementedService {
  return implementService(TestService, createTestService<CallContext>({ onCall: echoTestMetadata }));
}
