export { HealthClient, type ServingStatusName } from "./health-client.js";
export { ReflectionClient, type ReflectionVersion } from "./reflection-client.js";
export { createTestCertificates, type TestCertificates } from "./test-certificates.js";
export {
  listeningPort,
  loggedPort,
  packageBin,
  startServiceProcess,
  type Exit,
  type ServiceProcess,
  type ServiceProcessOptions,
} from "./service-process.js";
export { startLocalPostgres, startTestPostgres, type LocalPostgresOptions, type TestPostgres } from "./postgres.js";
export { Pushable } from "./pushable.js";
export { callsInFlight, metricsUrlOf, watchCallsInFlight, type CallsInFlightWatch } from "./calls-in-flight.js";
export { openHeldStreams, type HeldStreamOutcome, type HeldStreams, type HeldStreamsOptions } from "./held-streams.js";
export { startCommand, type CommandOptions, type CommandRun, type CommandSession } from "./command-session.js";
export { mountTestTmpfs, type TestTmpfs } from "./tmpfs.js";
export {
  exportedServices,
  mutateBytes,
  protobufFuzz,
  type ByteMutation,
  type FuzzPayload,
  type ProtobufFuzz,
} from "./protobuf-fuzz.js";
export {
  H2SPEC_CASE_COUNT,
  checkH2spec,
  h2specPath,
  judgeH2spec,
  parseH2specJunit,
  runH2spec,
  type H2specCase,
  type H2specCheck,
  type H2specFailureOwner,
  type H2specOutcome,
  type H2specRun,
  type H2specTarget,
  type H2specVerdict,
  type KnownH2specFailure,
  type KnownH2specFailures,
} from "./h2spec.js";
export {
  grpcServerBodilessAnswers,
  h2cBesideHttp1KnownFailures,
  nodeHttp2AnswerRaces,
  nodeHttp2KnownFailures,
} from "./h2spec-known-failures.js";
export { listFilesUnder } from "./list-files.js";
