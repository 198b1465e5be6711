import { performance } from "node:perf_hooks";
import { StatusCode } from "../status-code.js";
import { collectDefaultMetrics, Registry, type Metric } from "prom-client";
import type { CallHook, CallTap, MethodKind } from "../call-hooks.js";

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
  [StatusCode.OK]: "OK",
  [StatusCode.CANCELLED]: "Canceled",
  [StatusCode.UNKNOWN]: "Unknown",
  [StatusCode.INVALID_ARGUMENT]: "InvalidArgument",
  [StatusCode.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [StatusCode.NOT_FOUND]: "NotFound",
  [StatusCode.ALREADY_EXISTS]: "AlreadyExists",
  [StatusCode.PERMISSION_DENIED]: "PermissionDenied",
  [StatusCode.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [StatusCode.FAILED_PRECONDITION]: "FailedPrecondition",
  [StatusCode.ABORTED]: "Aborted",
  [StatusCode.OUT_OF_RANGE]: "OutOfRange",
  [StatusCode.UNIMPLEMENTED]: "Unimplemented",
  [StatusCode.INTERNAL]: "Internal",
  [StatusCode.UNAVAILABLE]: "Unavailable",
  [StatusCode.DATA_LOSS]: "DataLoss",
  [StatusCode.UNAUTHENTICATED]: "Unauthenticated",
};

/** prometheus.DefBuckets, as go-grpc-prometheus uses (seconds). */
const BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const HANDLING = "grpc_server_handling_seconds";

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

/** The counts of a method exposed as plain counters. */
type Count = "started" | "received" | "sent";

interface MethodLabels {
  grpc_type: string;
  grpc_service: string;
  grpc_method: string;
}

/**
 * Everything counted for one method, as plain numbers: calls update these fields and nothing
 * else, and the registry reads them only when scraped.
 */
class MethodSeries {
  started = 0;
  received = 0;
  sent = 0;
  /** Calls per bucket of BUCKETS (not cumulative); slower calls are only in `count`. */
  readonly buckets = new Float64Array(BUCKETS.length);
  sum = 0;
  count = 0;
  /** Ended calls by gRPC status code. */
  readonly handled = new Map<number, number>();

  constructor(
    readonly labels: MethodLabels,
    private readonly metrics: GrpcServerMetrics,
  ) {}

  start(): CallTap {
    if (this.started++ === 0) this.metrics.counted.started.push(this);
    return new MetricsTap(this, performance.now());
  }

  request(): void {
    if (this.received++ === 0) this.metrics.counted.received.push(this);
  }

  response(): void {
    if (this.sent++ === 0) this.metrics.counted.sent.push(this);
  }

  /** Records the end of a call that took `ms`. */
  end(code: number, ms: number): void {
    // Whole nanoseconds, as prom-client's process.hrtime() timer measured.
    const seconds = Math.round(ms * 1e6) / 1e9;
    if (this.count++ === 0) this.metrics.handlingOrder.push(this);
    this.sum += seconds;
    const buckets = this.buckets;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        buckets[i]!++;
        break;
      }
    }
    const handled = this.handled.get(code);
    if (handled === undefined) this.metrics.handledOrder.push([this, code]);
    this.handled.set(code, (handled ?? 0) + 1);
  }
}

/** Follows one call: the one object a call allocates for its metrics. */
class MetricsTap implements CallTap {
  constructor(
    private readonly series: MethodSeries,
    private readonly startedAt: number,
  ) {}

  request(): void {
    this.series.request();
  }

  response(): void {
    this.series.response();
  }

  end(code: StatusCode): void {
    this.series.end(code, performance.now() - this.startedAt);
  }
}

type MetricType = "counter" | "histogram";

interface MetricValue {
  value: number;
  metricName?: string;
  /** prom-client's (unused) exemplar slot of histogram buckets, kept so getMetricsAsJSON() is unchanged. */
  exemplar?: null;
  labels: Record<string, string | number>;
}

/**
 * A metric as the registry sees one (prom-client's MetricObject): it asks `get()` for the values
 * at scrape time (and for cluster aggregation), and `reset()` from `resetMetrics()`.
 */
class ScrapedMetric {
  readonly aggregator = "sum";

  constructor(
    /** Not readonly: the registry drops the `_total` of counter names for OpenMetrics. */
    public name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly metrics: GrpcServerMetrics,
    private readonly values: (name: string) => MetricValue[],
    /** Drops this metric's series, as prom-client's reset() does; calls bring them back. */
    readonly reset: () => void,
  ) {}

  get() {
    const { name, help, type, aggregator } = this;
    const values = this.values(name);
    // In the key order of prom-client's Counter.get() and Histogram.get().
    return Promise.resolve(
      type === "counter" ? { help, name, type, values, aggregator } : { name, help, type, values, aggregator },
    );
  }
}

/**
 * The go-grpc-prometheus server metrics of one registry: the numbers every call updates, by
 * method, and the metrics the registry scrapes them through. Series appear in the exposition in
 * the order they were first updated, as prom-client orders them.
 */
class GrpcServerMetrics {
  private readonly byService = new Map<string, Map<string, MethodSeries>>();
  private readonly all: MethodSeries[] = [];
  /** Per count, the series in the order they were first counted. */
  readonly counted: Record<Count, MethodSeries[]> = { started: [], received: [], sent: [] };
  handlingOrder: MethodSeries[] = [];
  handledOrder: [MethodSeries, number][] = [];

  /** The metrics, in the order they are registered (and exposed). */
  readonly metrics: ScrapedMetric[] = [
    new ScrapedMetric(
      HANDLING,
      "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      "histogram",
      this,
      (name) => this.histogramValues(name),
      () => {
        for (const s of this.all) {
          s.sum = s.count = 0;
          s.buckets.fill(0);
        }
        this.handlingOrder = [];
      },
    ),
    this.counter("grpc_server_started_total", "Total number of RPCs started on the server.", "started"),
    new ScrapedMetric(
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.",
      "counter",
      this,
      () =>
        this.handledOrder.map(([s, code]) => ({
          value: s.handled.get(code)!,
          labels: { ...s.labels, grpc_code: GRPC_CODE[code] ?? String(code) },
        })),
      () => {
        for (const s of this.all) s.handled.clear();
        this.handledOrder = [];
      },
    ),
    this.counter(
      "grpc_server_msg_received_total",
      "Total number of RPC stream messages received on the server.",
      "received",
    ),
    this.counter("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", "sent"),
  ];

  /** A counter exposing one count (`started`, `received` or `sent`) of every method's series. */
  private counter(name: string, help: string, count: Count): ScrapedMetric {
    return new ScrapedMetric(
      name,
      help,
      "counter",
      this,
      () => this.counted[count].map((s) => ({ value: s[count], labels: { ...s.labels } })),
      () => {
        for (const s of this.all) s[count] = 0;
        this.counted[count] = [];
      },
    );
  }

  /** The series of a method, made on its first call. */
  series(service: string, method: string, kind: MethodKind): MethodSeries {
    let methods = this.byService.get(service);
    if (!methods) this.byService.set(service, (methods = new Map()));
    let series = methods.get(method);
    if (!series) {
      series = new MethodSeries({ grpc_type: GRPC_TYPE[kind], grpc_service: service, grpc_method: method }, this);
      methods.set(method, series);
      this.all.push(series);
    }
    return series;
  }

  /**
   * What prom-client's Histogram.get() gives: per series, cumulative `le` buckets, `+Inf`, `_sum`
   * and `_count`, with `le` first among the labels.
   */
  private histogramValues(name: string): MetricValue[] {
    const values: MetricValue[] = [];
    const bucket = `${name}_bucket`;
    for (const s of this.handlingOrder) {
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({
          value: cumulative,
          metricName: bucket,
          exemplar: null,
          labels: { le: BUCKETS[i]!, ...s.labels },
        });
      }
      values.push(
        { value: s.count, metricName: bucket, exemplar: null, labels: { le: "+Inf", ...s.labels } },
        { value: s.sum, metricName: `${name}_sum`, labels: { ...s.labels } },
        { value: s.count, metricName: `${name}_count`, labels: { ...s.labels } },
      );
    }
    return values;
  }
}

/**
 * The go-grpc-prometheus server metrics in `registry`, registered once per registry so that both
 * runtimes' servers in one process count into the same series.
 */
function grpcServerMetrics(registry: Registry): GrpcServerMetrics {
  const existing = registry.getSingleMetric(HANDLING) as unknown;
  if (existing instanceof ScrapedMetric) return existing.metrics;
  const metrics = new GrpcServerMetrics();
  // The registry takes any object with a name, help, type, aggregator and get(), as prom-client's
  // own AggregatorRegistry registers; its types only list prom-client's classes.
  for (const metric of metrics.metrics) registry.registerMetric(metric as unknown as Metric);
  return metrics;
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
 *
 * prom-client validates and hashes the label set on every update, which cost several
 * microseconds per call; calls here only add to numbers of their method's series, and the
 * registry reads those when it is scraped.
 */
export function metricsHook(registry: Registry): CallHook {
  const metrics = grpcServerMetrics(registry);
  return {
    start: (call) => metrics.series(call.service, call.method, call.kind).start(),
  };
}
