import { writeFileSync } from "node:fs";
import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { protoFiles } from "@polyrpc/proto";

/** Every file `files` need, dependencies first, each once. */
function withDependencies(files: readonly DescFile[]): FileDescriptorProto[] {
  const seen = new Set<string>();
  const out: FileDescriptorProto[] = [];
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dep of file.dependencies) visit(dep);
    out.push(file.proto);
  };
  for (const file of files) visit(file);
  return out;
}

/**
 * Writes the contract as a FileDescriptorSet for ghz's `--protoset`: the docs' Go and Python
 * servers have no reflection, and the protos import buf/validate, which ghz could not find.
 */
export function writeProtoset(path: string): string {
  writeFileSync(
    path,
    toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: withDependencies(protoFiles) })),
  );
  return path;
}
