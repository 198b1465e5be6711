export { metricsEnvSchema, tracingEnvSchema } from "./config.js";
export { createMetricsRegistry, metricsHook } from "./metrics.js";
export { startMetricsServer, type MetricsServerHandle, type MetricsServerOptions } from "./metrics-server.js";
export { TRACE_ID, traceIdFromTraceparent, traceIdOf } from "./trace-id.js";
export {
  startTracing,
  TRACE_CONTEXT,
  traceHeaders,
  tracingHook,
  type TraceHeaders,
  type Tracing,
  type TracingOptions,
} from "./tracing.js";
export type { Registry } from "prom-client";
