import type { z } from "zod";
import { authEnvSchema, authHookFromConfig, PRINCIPAL } from "./auth/index.js";
import type { CallHook } from "./call-hooks.js";
import type { Logger } from "./logger.js";
import {
  createMetricsRegistry,
  metricsEnvSchema,
  metricsHook,
  startMetricsServer,
  startTracing,
  tracingEnvSchema,
  tracingHook,
  type Registry,
} from "./observability/index.js";
import { limitsEnvSchema, rateLimitHook, rateLimitsFromEnv } from "./rate-limit/index.js";
import { validationHook } from "./validation/validation-hook.js";

/**
 * The variables of the call pipeline: metrics, tracing, rate limits and authentication. Apps add
 * them to their schema with `.extend(callPipelineEnvShape).superRefine(checkAuthEnv)`.
 */
export const callPipelineEnvShape = {
  ...metricsEnvSchema.shape,
  ...tracingEnvSchema.shape,
  ...limitsEnvSchema.shape,
  ...authEnvSchema.shape,
};

export type CallPipelineEnv = z.infer<z.ZodObject<typeof callPipelineEnvShape>> & { HOST: string };

export interface CallPipeline {
  /** For startGrpcServer / startConnectServer. */
  hooks: CallHook[];
  /** Where /metrics is served, when metrics are on. */
  metricsPort: number | undefined;
  /** Stops the metrics server and flushes the traces. */
  stop(): Promise<void>;
}

/**
 * The same edge for every polyrpc server, in this order: tracing (so refused calls are traced
 * too), metrics (so refusals are counted), authentication, per-subject rate limits (keyed by the
 * authenticated subject), then protovalidate on every request message.
 */
export async function startCallPipeline(
  config: CallPipelineEnv,
  {
    serviceName,
    log,
    metricsRegistry,
  }: {
    serviceName: string;
    log: Logger;
    /**
     * Record the call metrics in this registry and serve nothing on METRICS_PORT: whoever owns the
     * registry exposes it (a cluster primary summing its workers, say).
     */
    metricsRegistry?: Registry;
  },
): Promise<CallPipeline> {
  const tracing = startTracing({
    serviceName: config.OTEL_SERVICE_NAME ?? serviceName,
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    log,
  });
  const registry = metricsRegistry ?? (config.METRICS_ENABLED ? createMetricsRegistry() : undefined);
  const hooks: CallHook[] = [
    tracingHook(tracing.tracer),
    ...(registry ? [metricsHook(registry)] : []),
    authHookFromConfig(config, { log }),
    rateLimitHook({ ...rateLimitsFromEnv(config), subject: (call) => call.get(PRINCIPAL)?.subject }),
    validationHook(),
  ];
  const metrics =
    registry && !metricsRegistry
      ? await startMetricsServer({ host: config.HOST, port: config.METRICS_PORT, registry, log })
      : undefined;
  return {
    hooks,
    metricsPort: metrics?.port,
    async stop() {
      await metrics?.close();
      await tracing.shutdown();
    },
  };
}
