export {
  createGrpcClient,
  isServiceError,
  type CallOptions,
  type ClientMethod,
  type GrpcClient,
  type GrpcClientOptions,
  type TypedClient,
} from "./grpc-client.js";
export { grpcMethodPath, grpcServiceDefinition } from "../grpc-definition.js";
