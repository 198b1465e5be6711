export {
  createGrpcClient,
  isServiceError,
  type CallOptions,
  type ClientMethod,
  type GrpcClient,
  type GrpcClientOptions,
  type TypedClient,
} from "./grpc-client.js";
export { grpcMethodPath, grpcServiceDefinition } from "./grpc-definition.js";
export { binaryEncoder } from "./binary-encoder.js";
/**
 * The grpc-js vocabulary a program using the typed clients needs (status codes, metadata,
 * credentials, channel options, interceptors, service config), so that it depends on this package
 * alone rather than on the runtime directly.
 */
export {
  credentials,
  InterceptingCall,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type Interceptor,
  type RetryPolicy,
  type ServiceConfig,
  type ServiceError,
} from "@grpc/grpc-js";
