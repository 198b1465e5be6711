import type { DescFile } from "@bufbuild/protobuf";
import { file_grpc_health_v1_health } from "./gen-vendor/grpc/health/v1/health_pb.js";
import { file_user_user } from "./gen/user/user_pb.js";

export * from "./gen/user/user_pb.js";

/** grpc.health.v1, generated from the .proto that `grpc-health-check` ships. */
export * as healthV1 from "./gen-vendor/grpc/health/v1/health_pb.js";

/** The files of polyrpc's own buf module. */
export const apiFiles: readonly DescFile[] = [file_user_user];

/**
 * Every generated file, polyrpc's APIs and the standard ones its servers implement. Servers hand
 * these to reflection so grpcurl, Postman and the other tools see exactly what is served.
 */
export const protoFiles: readonly DescFile[] = [...apiFiles, file_grpc_health_v1_health];
