import { echoTestMetadata, grpcService, type GrpcService, type HandlerContext } from "@polyrpc/server-kit";
import { TestService } from "./gen/grpc/testing/test_pb.js";
import { createTestService } from "./test-service.js";

/** `grpc.testing.TestService` for the kit's grpc-js server (`startGrpcServer`). */
export function grpcTestService(): GrpcService {
  const impl = createTestService<HandlerContext>({
    onCall(ctx) {
      // The kit's echo of the interop test headers: the initial one as response headers (sent
      // now, before any message), the binary one in the trailers.
      const header = echoTestMetadata(ctx.requestMetadata, ctx.responseTrailer);
      if (header) ctx.sendResponseHeader(header);
    },
  });
  return grpcService(TestService, impl);
}
