import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import {
  credentials,
  loadPackageDefinition,
  type Client,
  type ClientDuplexStream,
  type ServiceClientConstructor,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

export type ReflectionVersion = "v1" | "v1alpha";

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

const reflectionDir = join(
  dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
  "build/proto",
);

/** A grpc.reflection client (v1 or v1alpha), as grpcurl uses it. */
export class ReflectionClient {
  private readonly stub: Client & { ServerReflectionInfo(): ClientDuplexStream<object, ReflectionResponse> };

  constructor(address: string, version: ReflectionVersion = "v1") {
    const definition = loadSync(join(reflectionDir, `grpc/reflection/${version}/reflection.proto`), {
      keepCase: true,
      longs: String,
      defaults: false,
    });
    const pkg = loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: Record<string, { ServerReflection: ServiceClientConstructor }> };
    };
    const Ctor = pkg.grpc.reflection[version]!.ServerReflection;
    this.stub = new Ctor(address, credentials.createInsecure()) as never;
  }

  private ask(request: object): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      const call = this.stub.ServerReflectionInfo();
      call.on("data", (res: ReflectionResponse) => {
        resolve(res);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });
  }

  /** The fully-qualified names of every service the server lists. */
  async listServices(): Promise<string[]> {
    const res = await this.ask({ list_services: "" });
    return (res.list_services_response?.service ?? []).map((s) => s.name).sort();
  }

  /** The file that defines `symbol`, and its dependencies, decoded. */
  async fileContainingSymbol(symbol: string): Promise<FileDescriptorProto[]> {
    const res = await this.ask({ file_containing_symbol: symbol });
    if (res.error_response)
      throw new Error(`reflection error ${res.error_response.error_code}: ${res.error_response.error_message}`);
    return (res.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) =>
      fromBinary(FileDescriptorProtoSchema, bytes),
    );
  }

  close(): void {
    this.stub.close();
  }
}
