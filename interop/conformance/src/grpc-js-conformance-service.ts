import { toBinary } from "@bufbuild/protobuf";
import { AnySchema, type Any } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { implementService, RpcStatusError, type ImplementedService, type StatusCode } from "@polyrpc/server-kit";
import { createConformanceService } from "./conformance-service.js";
import { ConformanceService } from "./gen/connectrpc/conformance/v1/service_pb.js";

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

/**
 * `connectrpc.conformance.v1.ConformanceService` for the kit's grpc-js server
 * (`startGrpcServer`): error details travel as `grpc-status-details-bin` in the trailers, which
 * the kit sends with the status of the RpcStatusError thrown.
 */
export function grpcConformanceService(): ImplementedService {
  const impl = createConformanceService({
    // gRPC has no GET.
    connectGetInfo: () => undefined,
    toError(ctx, error, details) {
      const message = error.message ?? "";
      if (details.length > 0) {
        ctx.responseTrailer.set(STATUS_DETAILS_KEY, statusDetails(error.code, message, details).toString("base64"));
      }
      // connectrpc.conformance.v1.Code shares its numbers with gRPC's status codes.
      return new RpcStatusError(error.code as number as StatusCode, message);
    },
  });
  // Unimplemented has no handler on purpose: the kit leaves it out and grpc-js answers it
  // UNIMPLEMENTED.
  return implementService(ConformanceService, impl);
}
