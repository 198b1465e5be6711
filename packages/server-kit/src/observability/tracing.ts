import {
  context as otelContext,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type TextMapGetter,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { StatusCode } from "../status-code.js";
import { createCallValueKey, type CallHook, type CallInfo, type CallValueKey } from "../call-hooks.js";
import type { Logger } from "../logger.js";
import { TRACE_ID } from "./trace-id.js";

/**
 * The OpenTelemetry context of the call's server span, set by `tracingHook`: handlers pass it to
 * `context.with(...)` to make child spans, and `traceHeaders` turns it into the headers of an
 * outgoing call.
 */
export const TRACE_CONTEXT: CallValueKey<Context | undefined> = createCallValueKey<Context | undefined>(
  "polyrpc.trace-context",
  undefined,
);

// The hook uses its own W3C propagator, not the global one, so it works whether or not a tracer
// provider was registered.
const w3c = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<CallInfo> = {
  keys: () => [],
  get: (call, key) => call.header(key),
};

/** Server span status codes that mark the span as an error (OpenTelemetry's RPC conventions). */
const SERVER_ERRORS: ReadonlySet<StatusCode> = new Set([
  StatusCode.UNKNOWN,
  StatusCode.DEADLINE_EXCEEDED,
  StatusCode.UNIMPLEMENTED,
  StatusCode.INTERNAL,
  StatusCode.UNAVAILABLE,
  StatusCode.DATA_LOSS,
]);

/**
 * Starts a server span for every call, a child of the caller's W3C `traceparent` (and
 * `tracestate`) when it sent one, else the root of a new trace. The span is named
 * `package.Service/Method` with `rpc.system`, `rpc.service`, `rpc.method`, and on end
 * `rpc.grpc.status_code`; server-side error codes set its status to ERROR.
 *
 * The span's context is the call value `TRACE_CONTEXT` (see `traceHeaders`), its trace id the
 * call value `TRACE_ID`, which the per-call log line prints. With a no-op tracer (tracing off)
 * the "span" carries the caller's context unchanged, so the log and outgoing calls still see the
 * caller's trace. Put it first among the hooks so refused calls are traced too.
 */
export function tracingHook(tracer: Tracer): CallHook {
  return {
    start(call) {
      const parent = w3c.extract(ROOT_CONTEXT, call, headerGetter);
      const span = tracer.startSpan(
        `${call.service}/${call.method}`,
        {
          kind: SpanKind.SERVER,
          attributes: { "rpc.system": "grpc", "rpc.service": call.service, "rpc.method": call.method },
        },
        parent,
      );
      call.set(TRACE_CONTEXT, trace.setSpan(parent, span));
      const spanContext = span.spanContext();
      if (isSpanContextValid(spanContext)) call.set(TRACE_ID, spanContext.traceId);
      return {
        end(code, message) {
          span.setAttribute("rpc.grpc.status_code", code);
          if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message });
          span.end();
        },
      };
    },
  };
}

/** The W3C trace headers an outgoing call makes to continue a trace. */
export interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

/**
 * The headers that continue this call's trace in a call it makes (the chat's GetUser lookup):
 * `traceparent` names the trace and, as parent, this call's server span (its span id, not the
 * caller's), so the next service's span is a child of this one. Empty when `tracingHook` did not
 * run or there is no trace; with a no-op tracer it is the caller's own `traceparent`.
 */
export function traceHeaders(ctx: { readonly values: { get<T>(key: CallValueKey<T>): T } }): TraceHeaders {
  const context = ctx.values.get(TRACE_CONTEXT);
  if (!context) return {};
  const headers: Record<string, string> = {};
  w3c.inject(context, headers, defaultTextMapSetter);
  return headers;
}

export interface TracingOptions {
  /** The `service.name` resource attribute (`user-service`, `chat`). */
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint?: string | undefined;
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full traces URL, used as is; wins over `endpoint`. */
  tracesEndpoint?: string | undefined;
  log?: Logger;
}

/** What `startTracing` set up. */
export interface Tracing {
  /** Whether spans are recorded and exported. */
  readonly enabled: boolean;
  /** For `tracingHook`: a recording tracer when enabled, else a no-op one. */
  readonly tracer: Tracer;
  /** Exports the spans still buffered and unregisters the provider. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Sets up OpenTelemetry tracing for the process: a NodeTracerProvider that batches spans to an
 * OTLP/HTTP (JSON) collector, registered globally (AsyncLocalStorage context manager, W3C
 * propagator) so that `context.with(ctx.values.get(TRACE_CONTEXT), ...)` and instrumented
 * libraries find it. Only when an endpoint is configured: otherwise nothing is registered and the
 * returned tracer is a no-op. The exporter itself also honours the standard
 * `OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT` and `_COMPRESSION` variables.
 */
export function startTracing(options: TracingOptions): Tracing {
  const url =
    options.tracesEndpoint ??
    (options.endpoint ? new URL("v1/traces", options.endpoint.replace(/\/*$/, "/")).href : undefined);
  if (!url) {
    return { enabled: false, tracer: trace.getTracer("@polyrpc/server-kit"), shutdown: async () => {} };
  }
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": options.serviceName })),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  provider.register();
  options.log?.info({ url }, "exporting traces over OTLP/HTTP");
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    tracer: provider.getTracer("@polyrpc/server-kit"),
    shutdown() {
      stopped ??= provider.shutdown().finally(() => {
        trace.disable();
        otelContext.disable();
        propagation.disable();
      });
      return stopped;
    },
  };
}
