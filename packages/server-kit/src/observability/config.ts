import { z } from "zod";
import { portSchema } from "../config.js";

const flag = (fallback: "true" | "false") =>
  z
    .enum(["true", "false"])
    .default(fallback)
    .transform((v) => v === "true");

/** The metrics variables; apps extend their schema with it (`serverEnvSchema.extend(metricsEnvSchema.shape)`). */
export const metricsEnvSchema = z.object({
  /** Serve Prometheus metrics on METRICS_PORT. */
  METRICS_ENABLED: flag("true"),
  /** Port of `GET /metrics`, apart from the RPC port; 0 picks a free port. */
  METRICS_PORT: portSchema.default(9464),
});

/**
 * The tracing variables, under OpenTelemetry's standard names. Tracing is on only when an OTLP
 * endpoint is set; other OTEL_EXPORTER_OTLP_* variables (headers, timeout) are read by the
 * exporter itself.
 */
export const tracingEnvSchema = z.object({
  /** The collector's base URL (`http://otel-collector:4318`); spans go to `<url>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  /** The full traces URL, used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  /** The service name on exported spans; each app passes its own name by default. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
});
