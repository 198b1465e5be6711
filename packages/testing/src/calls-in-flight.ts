import type { ServiceProcess } from "./service-process.js";

/**
 * The `/metrics` URL of a server process started with METRICS_ENABLED=true, read from its
 * `metrics listening on /metrics` log line (so METRICS_PORT=0 works).
 */
export function metricsUrlOf(service: ServiceProcess): string {
  for (const text of service.output().split("\n")) {
    if (!text.includes('"metrics listening on /metrics"')) continue;
    const line = JSON.parse(text) as { msg?: string; port?: number };
    if (line.msg === "metrics listening on /metrics" && typeof line.port === "number") {
      return `http://127.0.0.1:${line.port}/metrics`;
    }
  }
  throw new Error("the process did not log its metrics port (is METRICS_ENABLED=true?)");
}

/** The value of every sample of `metric` in a Prometheus text exposition whose labels include `labels`. */
function samples(exposition: string, metric: string, labels: Record<string, string>): number[] {
  const wanted = Object.entries(labels).map(([name, value]) => `${name}="${value}"`);
  const values: number[] = [];
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const close = line.lastIndexOf("}");
    const labelText = line.slice(metric.length + 1, close);
    if (wanted.every((label) => labelText.includes(label))) values.push(Number(line.slice(close + 1).trim()));
  }
  return values;
}

/**
 * Calls of one method a server is running, from its go-grpc-prometheus counters: started minus
 * handled (handled counts every status).
 */
export function callsInFlight(exposition: string, service: string, method: string): number {
  const labels = { grpc_service: service, grpc_method: method };
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return (
    sum(samples(exposition, "grpc_server_started_total", labels)) -
    sum(samples(exposition, "grpc_server_handled_total", labels))
  );
}

/** A running watch of one method's calls in flight (see `watchCallsInFlight`). */
export interface CallsInFlightWatch {
  /** The highest count scraped so far. */
  readonly max: number;
  /** Scrapes now and returns the count. */
  current(): Promise<number>;
  /** Stops polling; resolves with the highest count scraped. */
  stop(): Promise<number>;
}

/**
 * Scrapes `metricsUrl` every `intervalMs` (and on `current()`), keeping the highest number of
 * `service`/`method` calls in flight seen: what the server itself was running, over its metrics
 * port, which no call limit of the RPC port holds back.
 */
export function watchCallsInFlight(
  metricsUrl: string,
  service: string,
  method: string,
  intervalMs = 25,
): CallsInFlightWatch {
  let max = 0;
  let polling = true;
  const scrape = async () => {
    const response = await fetch(metricsUrl);
    const count = callsInFlight(await response.text(), service, method);
    max = Math.max(max, count);
    return count;
  };
  const loop = (async () => {
    while (polling) {
      await scrape();
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  // A failed scrape (the server went away) ends the polling; stop() reports it.
  loop.catch(() => {});
  return {
    get max() {
      return max;
    },
    current: scrape,
    async stop() {
      polling = false;
      await loop;
      return max;
    },
  };
}
