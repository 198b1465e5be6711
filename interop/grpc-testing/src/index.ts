export {
  ECHO_INITIAL_KEY,
  ECHO_TRAILING_BIN_KEY,
  echoTestMetadata,
  echoTestMetadataHook,
} from "./echo-test-metadata.js";
export { implementedTestService } from "./test-service-handlers.js";
export { INTEROP_CASES, type InteropCase } from "./interop-cases.js";
export { KNOWN_FAILURES, knownFailure, type KnownFailure } from "./known-failures.js";
export { createTestService, type TestCall, type TestServiceOptions } from "./test-service.js";
export {
  isRuntime,
  RUNTIMES,
  startTestServer,
  type Runtime,
  type TestServer,
  type TestServerOptions,
} from "./test-server.js";
