import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import { reflectionV1, reflectionV1alpha } from "@polyrpc/proto";

export type ReflectionVersion = "v1" | "v1alpha";

type Reflection = typeof reflectionV1.ServerReflection;
type Request = MessageInitShape<typeof reflectionV1.ServerReflectionRequestSchema>;
type Response = reflectionV1.ServerReflectionResponse;

/** A grpc.reflection client (v1 or v1alpha), as grpcurl uses it. */
export class ReflectionClient {
  private readonly client: GrpcClient<Reflection>;

  constructor(address: string, version: ReflectionVersion = "v1") {
    // v1alpha is v1 under another package name: the same messages, field for field.
    const service = version === "v1" ? reflectionV1.ServerReflection : reflectionV1alpha.ServerReflection;
    this.client = createGrpcClient(service as Reflection, address);
  }

  private async ask(request: Request): Promise<Response["messageResponse"]> {
    for await (const response of this.client.methods.serverReflectionInfo([request])) return response.messageResponse;
    throw new Error("the reflection stream ended without a response");
  }

  /** The fully-qualified names of every service the server lists. */
  async listServices(): Promise<string[]> {
    const res = await this.ask({ messageRequest: { case: "listServices", value: "" } });
    return (res.case === "listServicesResponse" ? res.value.service : []).map((s) => s.name).sort();
  }

  /** The file that defines `symbol`, and its dependencies, decoded. */
  async fileContainingSymbol(symbol: string): Promise<FileDescriptorProto[]> {
    const res = await this.ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } });
    if (res.case === "errorResponse") {
      throw new Error(`reflection error ${res.value.errorCode}: ${res.value.errorMessage}`);
    }
    return (res.case === "fileDescriptorResponse" ? res.value.fileDescriptorProto : []).map((bytes) =>
      fromBinary(FileDescriptorProtoSchema, bytes),
    );
  }

  close(): void {
    this.client.close();
  }
}
