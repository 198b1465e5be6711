export { ActiveCalls, type ActiveCall } from "./active-calls.js";
export {
  authEnvSchema,
  authHook,
  authHookFromConfig,
  authModeOf,
  checkAuthEnv,
  createTokenVerifier,
  PRINCIPAL,
  principalOf,
  requireRole,
  type AuthEnv,
  type AuthHookOptions,
  type CallValuesContext,
  type JwksAlgorithm,
  type JwksSource,
  type Principal,
  type TokenOptions,
} from "./auth/index.js";
export {
  CallTaps,
  createCallValueKey,
  startHooks,
  type CallHook,
  type CallInfo,
  type CallTap,
  type CallValueKey,
  type MethodKind,
} from "./call-hooks.js";
export { ConfigError, loadConfig, portSchema, redactUrlPassword, serverEnvSchema, type ServerEnv } from "./config.js";
export {
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  DomainError,
  FailedPreconditionError,
  InvalidArgumentError,
  isDomainError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  STORAGE_FULL_MESSAGE,
  UnauthenticatedError,
  UnavailableError,
  type ErrorKind,
} from "./errors.js";
export { grpcMethodPath, grpcServiceDefinition } from "./grpc-definition.js";
export {
  exitOnSignals,
  grpcServerOptions,
  GrpcServerHandle,
  startGrpcServer,
  type GrpcServerOptions,
  type ServerLimits,
} from "./grpc-server.js";
export {
  grpcService,
  grpcServiceImplementation,
  type GrpcService,
  type GrpcServiceOptions,
  type HandlerContext,
  type MethodImpl,
  type ServiceImpl,
} from "./grpc-service.js";
export { Health, HEALTH_SERVICE_NAME } from "./health.js";
export { createLogger, type Logger, type LoggerOptions } from "./logger.js";
export { addReflection, reflectionPackageDefinition } from "./reflection.js";
export { drain, SHUTDOWN_MESSAGE, type Drainable, type ShutdownTimings } from "./shutdown.js";
export { serverTls, type ServerTls } from "./server-tls.js";
export { ECHO_INITIAL_KEY, ECHO_TRAILING_BIN_KEY, echoTestMetadata } from "./test-metadata.js";
export { INTERNAL_ERROR_MESSAGE, RpcStatusError, toRpcStatus } from "./rpc-status.js";
export { createRequestValidator, type RequestValidator } from "./validation/request-validator.js";
export { validationHook } from "./validation/validation-hook.js";
export { callPipelineEnvShape, startCallPipeline, type CallPipeline, type CallPipelineEnv } from "./call-pipeline.js";
