import { ConnectError, type HandlerContext } from "@connectrpc/connect";
import { implementService, type ImplementedService } from "@polyrpc/server-kit";
import { createConformanceService } from "./conformance-service.js";
import { ConformanceService } from "./gen/connectrpc/conformance/v1/service_pb.js";

/** `type.googleapis.com/pkg.Message` -> `pkg.Message`, the form connect's error details take. */
function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/**
 * `connectrpc.conformance.v1.ConformanceService` for connect-node (`startConnectServer`).
 * connect-node sends a stream's response headers with its first message, whatever the handler
 * asks; error details go out as they came, packed, so no type registry is needed for them.
 */
export function connectConformanceService(): ImplementedService {
  const impl = createConformanceService({
    connectGetInfo(call) {
      // On connect-node the kit's context is connect's own HandlerContext, which knows the protocol.
      const ctx = call as HandlerContext;
      if (ctx.protocolName !== "connect" || ctx.requestMethod !== "GET") return undefined;
      const queryParams = new Map<string, string[]>();
      for (const [name, value] of new URL(ctx.url, "http://localhost").searchParams) {
        queryParams.set(name, [...(queryParams.get(name) ?? []), value]);
      }
      return { queryParams: [...queryParams].map(([name, value]) => ({ name, value })) };
    },
    toError(_ctx, error, details) {
      // connectrpc.conformance.v1.Code shares its numbers with connect's Code.
      const connectError = new ConnectError(error.message ?? "", error.code as number);
      // Details as received (type name and bytes), which every protocol's serializer accepts.
      connectError.details.push(
        ...details.map((detail) => ({ type: typeNameOf(detail.typeUrl), value: detail.value })),
      );
      return connectError;
    },
  });
  return implementService(ConformanceService, impl);
}
