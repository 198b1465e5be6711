import { toBinary, type DescFile, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { reflectionV1, reflectionV1alpha } from "@polyrpc/proto";
import { dependencyClosure } from "../descriptor-files.js";

type Request = reflectionV1.ServerReflectionRequest;
type Response = MessageInitShape<typeof reflectionV1.ServerReflectionResponseSchema>;

const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

/** Every fully-qualified symbol a set of files defines, with the file that defines it. */
function indexSymbols(files: readonly DescFile[]): Map<string, DescFile> {
  const symbols = new Map<string, DescFile>();
  const addMessage = (message: DescMessage) => {
    symbols.set(message.typeName, message.file);
    for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, message.file);
    for (const oneof of message.oneofs) symbols.set(`${message.typeName}.${oneof.name}`, message.file);
    message.nestedMessages.forEach(addMessage);
    for (const e of message.nestedEnums) symbols.set(e.typeName, e.file);
    for (const x of message.nestedExtensions) symbols.set(x.typeName, x.file);
  };
  const visit = (file: DescFile) => {
    file.dependencies.forEach(visit);
    file.messages.forEach(addMessage);
    for (const e of file.enums) {
      symbols.set(e.typeName, file);
      for (const v of e.values) symbols.set(`${file.proto.package ? `${file.proto.package}.` : ""}${v.name}`, file);
    }
    for (const x of file.extensions) symbols.set(x.typeName, file);
    for (const service of file.services) {
      symbols.set(service.typeName, file);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file);
    }
  };
  files.forEach(visit);
  return symbols;
}

/** A file and everything it imports, serialised, the file first. */
function withDependencies(file: DescFile): Uint8Array[] {
  return dependencyClosure([file])
    .reverse()
    .map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
}

/**
 * grpc.reflection for connect-node (no library provides it), answered from the descriptors
 * protoc-gen-es generated. Lists only `services`; describes any symbol of `files`.
 */
export function reflectionImplementation(
  files: readonly DescFile[],
  services: readonly string[],
): ServiceImpl<typeof reflectionV1.ServerReflection> {
  const symbols = indexSymbols(files);
  const byName = new Map<string, DescFile>();
  for (const file of symbols.values()) byName.set(file.name, file);
  const listed = [...services].sort();

  const answer = (request: Request): Response => {
    const r = request.messageRequest;
    const base = { validHost: request.host, originalRequest: request };
    const error = (code: number, message: string): Response => ({
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode: code, errorMessage: message } },
    });
    const files = (file: DescFile | undefined, what: string): Response =>
      file
        ? {
            ...base,
            messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } },
          }
        : error(NOT_FOUND, `${what} not found`);
    switch (r.case) {
      case "listServices":
        return {
          ...base,
          messageResponse: { case: "listServicesResponse", value: { service: listed.map((name) => ({ name })) } },
        };
      case "fileByFilename":
        return files(byName.get(r.value), `file "${r.value}"`);
      case "fileContainingSymbol":
        return files(symbols.get(r.value), `symbol "${r.value}"`);
      case "fileContainingExtension":
        return error(NOT_FOUND, `extension ${r.value.extensionNumber} of "${r.value.containingType}" not found`);
      case "allExtensionNumbersOfType":
        return symbols.has(r.value)
          ? {
              ...base,
              messageResponse: {
                case: "allExtensionNumbersResponse",
                value: { baseTypeName: r.value, extensionNumber: [] },
              },
            }
          : error(NOT_FOUND, `type "${r.value}" not found`);
      default:
        return error(UNIMPLEMENTED, "unknown reflection request");
    }
  };

  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) yield answer(request);
    },
  };
}

/** The reflection service names, as they are listed. */
export const REFLECTION_SERVICE_NAMES = [
  reflectionV1.ServerReflection.typeName,
  reflectionV1alpha.ServerReflection.typeName,
] as const;

/** Registers grpc.reflection.v1 and v1alpha (the same answers; v1alpha is what older grpcurl asks). */
export function addConnectReflection(router: ConnectRouter, files: readonly DescFile[], services: readonly string[]) {
  const impl = reflectionImplementation(files, services);
  router.service(reflectionV1.ServerReflection, impl);
  // v1alpha's messages have the same fields and numbers as v1's.
  router.service(
    reflectionV1alpha.ServerReflection,
    impl as unknown as ServiceImpl<typeof reflectionV1alpha.ServerReflection>,
  );
}
