import type { DescFile } from "@bufbuild/protobuf";
import { file_grpc_health_v1_health } from "./gen-vendor/grpc/health/v1/health_pb.js";
import { file_auth_v1_auth } from "./gen/auth/v1/auth_pb.js";
import { file_chat_v1_chat } from "./gen/chat/v1/chat_pb.js";
import { file_user_user } from "./gen/user/user_pb.js";

export * from "./gen/user/user_pb.js";

/** auth.v1: log-in, token refresh and roles, served by the user service. */
export * as authV1 from "./gen/auth/v1/auth_pb.js";

/** chat.v1: the chat API. */
export * as chatV1 from "./gen/chat/v1/chat_pb.js";

/** grpc.health.v1, generated from the .proto that `grpc-health-check` ships. */
export * as healthV1 from "./gen-vendor/grpc/health/v1/health_pb.js";

/** grpc.reflection.v1 and v1alpha, generated from the .proto files `@grpc/reflection` ships. */
export * as reflectionV1 from "./gen-vendor/grpc/reflection/v1/reflection_pb.js";
export * as reflectionV1alpha from "./gen-vendor/grpc/reflection/v1alpha/reflection_pb.js";

/** The files of polyrpc's own buf module. */
export const apiFiles: readonly DescFile[] = [file_user_user, file_auth_v1_auth, file_chat_v1_chat];

/**
 * polyrpc's APIs and grpc.health.v1, which every polyrpc server implements. Servers hand these to
 * reflection, which lists the services a server actually serves and describes them from here.
 */
export const protoFiles: readonly DescFile[] = [...apiFiles, file_grpc_health_v1_health];
