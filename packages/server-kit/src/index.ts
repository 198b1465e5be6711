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
  tapRequests,
  type CallHook,
  type CallInfo,
  type CallTap,
  type CallValueKey,
  type MethodKind,
} from "./call-hooks.js";
export {
  ConfigError,
  loadConfig,
  portSchema,
  redactUrlPassword,
  serverEnvSchema,
  type ServerEnv,
  type ServerLimits,
} from "./config.js";
export {
  callDeadline,
  implementService,
  type CallContext,
  type ImplementedService,
  type MethodHandler,
  type ServiceHandlers,
} from "./call-context.js";
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
export { createLogger, type Logger, type LoggerOptions } from "./logger.js";
export {
  drain,
  exitOnSignals,
  ServerHandle,
  SHUTDOWN_MESSAGE,
  type Drainable,
  type ServerStop,
  type ServingHealth,
  type ShutdownTimings,
  type SignalOptions,
} from "./shutdown.js";
export { serverTls, type ServerTls } from "./server-tls.js";
export { runServer, StartupError, type RunningServer } from "./startup.js";
export { INTERNAL_ERROR_MESSAGE, RpcStatusError, toRpcStatus, type RpcStatus } from "./rpc-status.js";
export { StatusCode, statusCodeName, type StatusCodeName } from "./status-code.js";
export { createRequestValidator, type RequestValidator } from "./validation/request-validator.js";
export { validationHook } from "./validation/validation-hook.js";
export { callPipelineEnvShape, startCallPipeline, type CallPipeline, type CallPipelineEnv } from "./call-pipeline.js";
