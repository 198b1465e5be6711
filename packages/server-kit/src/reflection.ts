import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { healthProtoPath } from "./health.js";

/**
 * Serialises files and everything they import, dependencies first, as a FileDescriptorSet: the
 * form reflection clients, `buf` and `protoc --descriptor_set_in` all read.
 */
export function fileDescriptorSet(files: readonly DescFile[]): Uint8Array {
  const ordered: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file.proto);
  };
  files.forEach(visit);
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: ordered }));
}

/**
 * The proto-loader package definition of the given files plus grpc.health.v1, built from the same
 * descriptors protoc-gen-es generated, so reflection describes exactly what the server speaks.
 */
export function reflectionPackageDefinition(files: readonly DescFile[]): PackageDefinition {
  const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  return {
    ...loadSync(healthProtoPath, options),
    ...loadFileDescriptorSetFromBuffer(Buffer.from(fileDescriptorSet(files)), options),
  };
}

/** Adds grpc.reflection.v1 and v1alpha to a grpc-js server. */
export function addReflection(server: Server, files: readonly DescFile[]): void {
  new ReflectionService(reflectionPackageDefinition(files)).addToServer(server);
}
