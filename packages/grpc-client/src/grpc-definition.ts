import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { binaryEncoder } from "./binary-encoder.js";

/** The HTTP/2 path of a method, e.g. `/user.UserService/GetUser`. */
export function grpcMethodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializer<D extends DescMessage>(schema: D) {
  // The bytes of protobuf-es toBinary, without its per-field reflection (see binary-encoder.ts).
  const encode = binaryEncoder(schema);
  // Accepts a message or a plain init object, so handlers and callers may return either.
  return (value: MessageInitShape<D>): Buffer => {
    const bytes = encode(create(schema, value));
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D) {
  return (bytes: Buffer) => fromBinary(schema, bytes);
}

/**
 * Builds a grpc-js service definition from a protobuf-es service descriptor, so that the code
 * protoc-gen-es generates serves grpc-js as well as connect-node. Keys are the methods' local
 * (lowerCamel) names; paths, stream flags and (de)serialisation come from the descriptor.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: grpcMethodPath(method),
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input) as (value: unknown) => Buffer,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}
