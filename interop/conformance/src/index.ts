export { connectConformanceService } from "./connect-conformance-service.js";
export {
  createConformanceService,
  type ConformanceRuntime,
  type ConformanceServiceImpl,
  type ConnectGetInfoInit,
  type HeaderInit,
} from "./conformance-service.js";
export {
  isRuntime,
  RUNTIMES,
  startConformanceServer,
  UnsupportedRequestError,
  type ConformanceServer,
  type Runtime,
} from "./conformance-server.js";
export { grpcConformanceService } from "./grpc-js-conformance-service.js";
export { readSizeDelimited, sizeDelimited } from "./size-delimited.js";
