import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { dependencyClosure } from "../descriptor-files.js";

/**
 * A package definition for `@grpc/reflection` carrying the files exactly as protoc-gen-es embedded
 * them. (proto-loader would rebuild them through protobufjs, which renames map entry types and so
 * breaks clients such as grpcurl on grpc.health.v1.)
 */
export function reflectionPackageDefinition(files: readonly DescFile[]): PackageDefinition {
  const fileDescriptorProtos = dependencyClosure(files).map((file) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)),
  );
  return { "polyrpc.descriptors": { format: "polyrpc descriptors", fileDescriptorProtos } as never };
}

/**
 * Adds grpc.reflection.v1 and v1alpha to a grpc-js server. Only `services` are listed; `files` may
 * describe more (every polyrpc API), but a client is told only of what this server serves.
 */
export function addReflection(server: Server, files: readonly DescFile[], services: readonly string[]): void {
  new ReflectionService(reflectionPackageDefinition(files), { services: [...services] }).addToServer(server);
}
