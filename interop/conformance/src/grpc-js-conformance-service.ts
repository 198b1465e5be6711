import { toBinary } from "@bufbuild/protobuf";
import { AnySchema, type Any } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Metadata, status as Status } from "@grpc/grpc-js";
import {
  grpcService,
  RpcStatusError,
  type GrpcService,
  type HandlerContext,
  type ServiceImpl,
} from "@polyrpc/server-kit";
import { createConformanceService, type HeaderInit } from "./conformance-service.js";
import { ConformanceService, type Header } from "./gen/connectrpc/conformance/v1/service_pb.js";

/** The trailer gRPC carries a status's details in: a binary google.rpc.Status. */
const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
 * in its binary form, written field by field: the one message of google/rpc/status.proto this
 * package needs is not worth generating.
 */
function statusDetails(code: number, message: string, details: readonly Any[]): Buffer {
  const writer = new BinaryWriter();
  if (code !== 0) writer.tag(1, WireType.Varint).int32(code);
  if (message !== "") writer.tag(2, WireType.LengthDelimited).string(message);
  for (const detail of details) writer.tag(3, WireType.LengthDelimited).bytes(toBinary(AnySchema, detail));
  return Buffer.from(writer.finish());
}

function toMetadata(headers: readonly Header[], into = new Metadata()): Metadata {
  for (const { name, value } of headers) for (const v of value) into.add(name, v);
  return into;
}

/**
 * `connectrpc.conformance.v1.ConformanceService` for the kit's grpc-js server
 * (`startGrpcServer`). grpc-js sends response headers whenever the handler asks, so they always
 * go out at once; error details travel as `grpc-status-details-bin` in the trailers, which the
 * kit sends with the status of the RpcStatusError thrown.
 */
export function grpcConformanceService(): GrpcService {
  const impl = createConformanceService<HandlerContext>({
    signal: (ctx) => ctx.signal,
    requestHeaders(ctx) {
      const headers: HeaderInit[] = [];
      for (const [name, values] of Object.entries(ctx.requestMetadata.toJSON())) {
        headers.push({ name, value: values.map((v) => (typeof v === "string" ? v : v.toString("base64"))) });
      }
      return headers;
    },
    timeoutMs: (ctx) => (ctx.deadline ? BigInt(Math.max(0, ctx.deadline.getTime() - Date.now())) : undefined),
    // gRPC has no GET.
    connectGetInfo: () => undefined,
    responseHeaders(ctx, headers, sendNow) {
      if (headers.length > 0 || sendNow) ctx.sendResponseHeader(toMetadata(headers));
    },
    responseTrailers(ctx, trailers) {
      toMetadata(trailers, ctx.responseTrailer);
    },
    toError(ctx, error, details) {
      const message = error.message ?? "";
      if (details.length > 0) ctx.responseTrailer.set(STATUS_DETAILS_KEY, statusDetails(error.code, message, details));
      // connectrpc.conformance.v1.Code shares its numbers with gRPC's status codes.
      return new RpcStatusError(error.code as number as Status, message);
    },
  });
  // Unimplemented has no handler on purpose: the kit leaves it out and grpc-js answers it
  // UNIMPLEMENTED. The kit's ServiceImpl type wants every method, hence the cast.
  return grpcService(ConformanceService, impl as unknown as ServiceImpl<typeof ConformanceService>);
}
