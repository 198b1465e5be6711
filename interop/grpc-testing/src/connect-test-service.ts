import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ECHO_INITIAL_KEY, ECHO_TRAILING_BIN_KEY } from "@polyrpc/server-kit";
import type { TestService } from "./gen/grpc/testing/test_pb.js";
import { createTestService } from "./test-service.js";

/**
 * `grpc.testing.TestService` for connect-node (`startConnectServer`). Binary (`-bin`) values
 * arrive base64-encoded in connect's Headers and go back out as they came.
 */
export function connectTestServiceImpl(): ServiceImpl<typeof TestService> {
  return createTestService<HandlerContext>({
    onCall(ctx) {
      const initial = ctx.requestHeader.get(ECHO_INITIAL_KEY);
      if (initial !== null) ctx.responseHeader.set(ECHO_INITIAL_KEY, initial);
      const trailing = ctx.requestHeader.get(ECHO_TRAILING_BIN_KEY);
      if (trailing !== null) ctx.responseTrailer.set(ECHO_TRAILING_BIN_KEY, trailing);
    },
  });
}
