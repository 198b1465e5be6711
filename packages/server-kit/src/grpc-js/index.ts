export { Health, HEALTH_SERVICE_NAME } from "./health.js";
export { headersToMetadata, metadataToHeaders } from "./handler-context.js";
export { addReflection, reflectionPackageDefinition } from "./reflection.js";
export { grpcServerOptions, startGrpcServer, type GrpcServerOptions } from "./server.js";
export { grpcServiceImplementation, type GrpcServiceOptions } from "./service-adapter.js";
