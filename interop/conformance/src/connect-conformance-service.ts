import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createConformanceService, type HeaderInit } from "./conformance-service.js";
import type { ConformanceService, Header } from "./gen/connectrpc/conformance/v1/service_pb.js";

function appendHeaders(into: Headers, headers: readonly Header[]): void {
  for (const { name, value } of headers) for (const v of value) into.append(name, v);
}

/** `type.googleapis.com/pkg.Message` -> `pkg.Message`, the form connect's error details take. */
function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/**
 * `connectrpc.conformance.v1.ConformanceService` for connect-node (`startConnectServer`).
 * connect-node sends a stream's response headers with its first message, whatever the handler
 * asks; error details go out as they came, packed, so no type registry is needed for them.
 */
export function connectConformanceServiceImpl(): Partial<ServiceImpl<typeof ConformanceService>> {
  return createConformanceService<HandlerContext>({
    signal: (ctx) => ctx.signal,
    requestHeaders(ctx) {
      const headers: HeaderInit[] = [];
      // Fetch's Headers joins repeated values with ", ": what a handler sees is one value.
      ctx.requestHeader.forEach((value, name) => headers.push({ name, value: [value] }));
      return headers;
    },
    timeoutMs(ctx) {
      const timeout = ctx.timeoutMs();
      return timeout === undefined ? undefined : BigInt(Math.max(0, Math.round(timeout)));
    },
    connectGetInfo(ctx) {
      if (ctx.protocolName !== "connect" || ctx.requestMethod !== "GET") return undefined;
      const queryParams = new Map<string, string[]>();
      for (const [name, value] of new URL(ctx.url, "http://localhost").searchParams) {
        queryParams.set(name, [...(queryParams.get(name) ?? []), value]);
      }
      return { queryParams: [...queryParams].map(([name, value]) => ({ name, value })) };
    },
    responseHeaders: (ctx, headers) => appendHeaders(ctx.responseHeader, headers),
    responseTrailers: (ctx, trailers) => appendHeaders(ctx.responseTrailer, trailers),
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
}
