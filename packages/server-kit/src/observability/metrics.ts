import { status as Status } from "@grpc/grpc-js";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import type { CallHook, MethodKind } from "../call-hooks.js";

/**
 * The `grpc_type` label values, spelled as go-grpc-prometheus spells them so that its dashboards
 * and alerts work unchanged.
 */
const GRPC_TYPE: Record<MethodKind, string> = {
  unary: "unary",
  client_streaming: "client_stream",
  server_streaming: "server_stream",
  bidi_streaming: "bidi_stream",
};

/**
 * The `grpc_code` label values: grpc-go's `codes.Code.String()` (`OK`, `NotFound`, `Canceled`),
 * which go-grpc-prometheus writes. Log lines use the other spelling (`NOT_FOUND`).
 */
const GRPC_CODE: Record<number, string> = {
  [Status.OK]: "OK",
  [Status.CANCELLED]: "Canceled",
  [Status.UNKNOWN]: "Unknown",
  [Status.INVALID_ARGUMENT]: "InvalidArgument",
  [Status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [Status.NOT_FOUND]: "NotFound",
  [Status.ALREADY_EXISTS]: "AlreadyExists",
  [Status.PERMISSION_DENIED]: "PermissionDenied",
  [Status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [Status.FAILED_PRECONDITION]: "FailedPrecondition",
  [Status.ABORTED]: "Aborted",
  [Status.OUT_OF_RANGE]: "OutOfRange",
  [Status.UNIMPLEMENTED]: "Unimplemented",
  [Status.INTERNAL]: "Internal",
  [Status.UNAVAILABLE]: "Unavailable",
  [Status.DATA_LOSS]: "DataLoss",
  [Status.UNAUTHENTICATED]: "Unauthenticated",
};

const LABELS = ["grpc_type", "grpc_service", "grpc_method"] as const;

/**
 * Creates a registry for one process's metrics. With `processMetrics` (the default) it also holds
 * prom-client's default process and runtime metrics under their usual names (`process_*`,
 * `nodejs_*`): they cannot collide with the `grpc_*` names, and dashboards for Node services
 * expect them unprefixed. Pass false to leave them off (tests, or several registries per process).
 */
export function createMetricsRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

function counter(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/**
 * The go-grpc-prometheus server metrics in `registry` (created once per registry, so both
 * runtimes' servers in one process can share it).
 */
function grpcServerMetrics(registry: Registry) {
  const handling =
    (registry.getSingleMetric("grpc_server_handling_seconds") as Histogram<string> | undefined) ??
    new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      labelNames: LABELS,
      // prometheus.DefBuckets, as go-grpc-prometheus uses.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  return {
    started: counter(registry, "grpc_server_started_total", "Total number of RPCs started on the server.", LABELS),
    handled: counter(
      registry,
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.",
      [...LABELS, "grpc_code"],
    ),
    received: counter(
      registry,
      "grpc_server_msg_received_total",
      "Total number of RPC stream messages received on the server.",
      LABELS,
    ),
    sent: counter(
      registry,
      "grpc_server_msg_sent_total",
      "Total number of gRPC stream messages sent by the server.",
      LABELS,
    ),
    handling,
  };
}

/**
 * Prometheus metrics for every call, the same on both runtimes, under go-grpc-prometheus's names
 * and labels (`grpc_type`, `grpc_service`, `grpc_method`, and `grpc_code` on handled):
 *
 * - `grpc_server_started_total`: calls that reached this hook
 * - `grpc_server_handled_total{grpc_code}`: calls that ended, by status code
 * - `grpc_server_handling_seconds`: histogram of start-to-end time (default buckets 5 ms..10 s)
 * - `grpc_server_msg_received_total`, `grpc_server_msg_sent_total`: messages, per call type
 *
 * Put it first among the hooks so that calls later hooks refuse (auth, rate limits) are counted.
 */
export function metricsHook(registry: Registry): CallHook {
  const metrics = grpcServerMetrics(registry);
  type Children = {
    labels: Record<(typeof LABELS)[number], string>;
    started: { inc(): void };
    received: { inc(): void };
    sent: { inc(): void };
    handling: { startTimer(): () => unknown };
  };
  // prom-client hashes label sets on every update; resolve them once per method instead.
  const byPath = new Map<string, Children>();
  const childrenOf = (service: string, method: string, kind: MethodKind): Children => {
    const key = `${service}/${method}`;
    let children = byPath.get(key);
    if (!children) {
      const labels = { grpc_type: GRPC_TYPE[kind], grpc_service: service, grpc_method: method };
      children = {
        labels,
        started: metrics.started.labels(labels),
        received: metrics.received.labels(labels),
        sent: metrics.sent.labels(labels),
        handling: metrics.handling.labels(labels),
      };
      byPath.set(key, children);
    }
    return children;
  };
  return {
    start(call) {
      const children = childrenOf(call.service, call.method, call.kind);
      children.started.inc();
      const stopTimer = children.handling.startTimer();
      return {
        request: () => children.received.inc(),
        response: () => children.sent.inc(),
        end: (code) => {
          stopTimer();
          metrics.handled.inc({ ...children.labels, grpc_code: GRPC_CODE[code] ?? String(code) });
        },
      };
    },
  };
}
