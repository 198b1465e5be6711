import { Metadata, type UntypedHandleCall, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { grpcService, type GrpcService, type HandlerContext } from "@polyrpc/server-kit";
import { ECHO_INITIAL_KEY, ECHO_TRAILING_BIN_KEY } from "./echo-metadata.js";
import { TestService } from "./gen/grpc/testing/test_pb.js";
import { createTestService } from "./test-service.js";

/** The part every grpc-js server call object shares that the echo uses. */
interface ServerCall {
  readonly metadata: Metadata;
  sendMetadata(header: Metadata): void;
}

/**
 * Sends the echoed `x-grpc-test-echo-initial` as response headers before the kit's handler runs.
 * The kit's HandlerContext has no way to send response headers, so this wraps the grpc-js
 * handlers the kit registers, where the call object (and its `sendMetadata`) is in reach.
 */
function echoingInitialMetadata(service: GrpcService): GrpcService {
  return {
    descriptor: service.descriptor,
    register(options) {
      const { definition, implementation } = service.register(options);
      const wrapped: UntypedServiceImplementation = {};
      for (const [name, handler] of Object.entries(implementation)) {
        wrapped[name] = ((call: ServerCall, ...rest: unknown[]) => {
          const values = call.metadata.get(ECHO_INITIAL_KEY);
          if (values.length > 0) {
            const header = new Metadata();
            for (const value of values) header.add(ECHO_INITIAL_KEY, value);
            call.sendMetadata(header);
          }
          return (handler as (...args: unknown[]) => void)(call, ...rest);
        }) as UntypedHandleCall;
      }
      return { definition, implementation: wrapped };
    },
  };
}

/** `grpc.testing.TestService` for the kit's grpc-js server (`startGrpcServer`). */
export function grpcTestService(): GrpcService {
  const impl = createTestService<HandlerContext>({
    onCall(ctx) {
      for (const value of ctx.requestMetadata.get(ECHO_TRAILING_BIN_KEY)) {
        ctx.responseTrailer.add(ECHO_TRAILING_BIN_KEY, value);
      }
    },
  });
  return echoingInitialMetadata(grpcService(TestService, impl));
}
