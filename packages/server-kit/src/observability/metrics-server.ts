import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { Logger } from "../logger.js";

export interface MetricsServerOptions {
  host: string;
  /** METRICS_PORT; 0 picks a free port, which `MetricsServerHandle.port` reports. */
  port: number;
  registry: Registry;
  log?: Logger;
}

/** A running metrics endpoint. */
export interface MetricsServerHandle {
  readonly port: number;
  /** `http://127.0.0.1:<port>/metrics`, for scrapes from this machine. */
  readonly url: string;
  /** Stops listening and closes open scrape connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text exposition format) from `registry` on its own HTTP/1.1
 * port, apart from the RPC port, so scrapes never compete with calls for streams or go through
 * the RPC hooks. Any other path answers 404.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServerHandle> {
  const { registry, log } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") return void res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return void res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => {
        log?.error({ err }, "metrics collection failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  log?.info({ host: options.host, port }, "metrics listening on /metrics");
  let closed: Promise<void> | undefined;
  return {
    port,
    url: `http://127.0.0.1:${port}/metrics`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
