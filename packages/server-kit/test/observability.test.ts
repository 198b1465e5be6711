import { createServer, type IncomingMessage } from "node:http";
import { Writable } from "node:stream";
import { Metadata, status as Status } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-node";
import { UserService } from "@polyrpc/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { CallHook } from "../src/call-hooks.js";
import type { GrpcClient } from "@polyrpc/grpc-client";
import { NotFoundError } from "../src/errors.js";
import { createLogger } from "../src/logger.js";
import {
  createMetricsRegistry,
  metricsEnvSchema,
  metricsHook,
  startMetricsServer,
  startTracing,
  traceHeaders,
  traceIdFromTraceparent,
  tracingEnvSchema,
  tracingHook,
  type MetricsServerHandle,
} from "../src/observability/index.js";
import { RUNTIMES, startUserServiceOn, type Runtime } from "./user-service-on.js";

/** The caller's trace context, as a W3C `traceparent`. */
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`;

/** Written once in the kit's ServiceHandlers shape, served by both runtimes. */
const impl = {
  async getUser(req: { id: string }, ctx: Parameters<typeof traceHeaders>[0]) {
    if (req.id === "missing") throw new NotFoundError(`user "${req.id}" not found`);
    // What an outgoing call made by this handler would carry: tells the test what was propagated.
    return { id: req.id, username: traceHeaders(ctx).traceparent ?? "" };
  },
  async *listUsers(req: { pageSize: number }) {
    for (let i = 0; i < req.pageSize; i++) yield { id: String(i) };
  },
  async createUsers(reqs: AsyncIterable<unknown>) {
    let count = 0;
    for await (const _ of reqs) count++;
    return { count };
  },
};

interface Running {
  client: GrpcClient<typeof UserService>["methods"];
  /** Every log line the server wrote, parsed. */
  lines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

async function startServer(runtime: Runtime, hooks: CallHook[]): Promise<Running> {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = createLogger({ name: "observability-test", level: "info", destination });
  const server = await startUserServiceOn(runtime, impl, { hooks, log });
  return {
    client: server.client.methods,
    lines: () =>
      text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () => server.stop(),
  };
}

const withTraceparent = (traceparent: string) => {
  const metadata = new Metadata();
  metadata.set("traceparent", traceparent);
  return { metadata };
};

async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** The `grpc_server_*` samples of a scrape (histogram buckets and sums left out), by name and sorted labels. */
async function scrape(url: string): Promise<Record<string, number>> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples: Record<string, number> = {};
  for (const line of (await res.text()).split("\n")) {
    const match = /^(grpc_server_\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || /_(bucket|sum)$/.test(match[1]!)) continue;
    const labels = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k!, v!]));
    samples[sample(match[1]!, labels)] = Number(match[3]);
  }
  return samples;
}

function sample(name: string, labels: Record<string, string>): string {
  const sorted = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return `${name}{${sorted.join(",")}}`;
}

/** What go-grpc-prometheus would report for the call sequence of the metrics test. */
function expectedSamples(): Record<string, number> {
  const getUser = { grpc_type: "unary", grpc_service: "user.UserService", grpc_method: "GetUser" };
  const listUsers = { grpc_type: "server_stream", grpc_service: "user.UserService", grpc_method: "ListUsers" };
  const createUsers = { grpc_type: "client_stream", grpc_service: "user.UserService", grpc_method: "CreateUsers" };
  return {
    [sample("grpc_server_started_total", getUser)]: 4,
    [sample("grpc_server_handled_total", { ...getUser, grpc_code: "OK" })]: 3,
    [sample("grpc_server_handled_total", { ...getUser, grpc_code: "NotFound" })]: 1,
    [sample("grpc_server_msg_received_total", getUser)]: 4,
    [sample("grpc_server_msg_sent_total", getUser)]: 3,
    [sample("grpc_server_handling_seconds_count", getUser)]: 4,

    [sample("grpc_server_started_total", listUsers)]: 1,
    [sample("grpc_server_handled_total", { ...listUsers, grpc_code: "OK" })]: 1,
    [sample("grpc_server_msg_received_total", listUsers)]: 1,
    [sample("grpc_server_msg_sent_total", listUsers)]: 4,
    [sample("grpc_server_handling_seconds_count", listUsers)]: 1,

    [sample("grpc_server_started_total", createUsers)]: 1,
    [sample("grpc_server_handled_total", { ...createUsers, grpc_code: "OK" })]: 1,
    [sample("grpc_server_msg_received_total", createUsers)]: 2,
    [sample("grpc_server_msg_sent_total", createUsers)]: 1,
    [sample("grpc_server_handling_seconds_count", createUsers)]: 1,
  };
}

describe.each(RUNTIMES)("observability on %s", (runtime) => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let running: Running | undefined;
  let metricsServer: MetricsServerHandle | undefined;

  afterEach(async () => {
    await running?.stop();
    await metricsServer?.close();
    running = metricsServer = undefined;
    exporter.reset();
  });
  afterAll(() => provider.shutdown());

  it("counts calls, codes and messages under go-grpc-prometheus's names, served on /metrics", async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    running = await startServer(runtime, [metricsHook(registry)]);
    metricsServer = await startMetricsServer({ host: "127.0.0.1", port: 0, registry });
    expect(metricsServer.port).toBeGreaterThan(0);

    const { client } = running;
    for (const id of ["1", "2", "3"]) await client.getUser({ id });
    await expect(client.getUser({ id: "missing" })).rejects.toMatchObject({ code: Status.NOT_FOUND });
    expect(await drain(client.listUsers({ pageSize: 4 }))).toHaveLength(4);
    expect(await client.createUsers([{ username: "a" }, { username: "b" }])).toMatchObject({ count: 2 });

    // The same table for both runtimes, and nothing else under grpc_server_.
    await expect.poll(() => scrape(metricsServer!.url)).toEqual(expectedSamples());
  });

  it("writes one info line per call with method, code, duration and the caller's trace id", async () => {
    running = await startServer(runtime, []);
    const { client } = running;
    const traceparent = (n: number) => `00-${TRACE_ID.slice(0, 30)}0${n}-${CALLER_SPAN_ID}-01`;
    await client.getUser({ id: "1" }, withTraceparent(traceparent(1)));
    await client.getUser({ id: "missing" }, withTraceparent(traceparent(2))).catch(() => undefined);
    await drain(client.listUsers({ pageSize: 2 }, withTraceparent(traceparent(3))));
    await client.getUser({ id: "1" });

    await expect
      .poll(() => running!.lines().filter((line) => line.msg === "call finished" || line.msg === "call failed"))
      .toHaveLength(4);
    const calls = running.lines().filter((line) => "ms" in line);
    const fields = calls.map(({ level, method, code, traceId, msg }) => ({ level, method, code, traceId, msg }));
    expect(fields).toEqual([
      {
        level: "info",
        method: "/user.UserService/GetUser",
        code: "OK",
        traceId: traceIdFromTraceparent(traceparent(1)),
        msg: "call finished",
      },
      {
        level: "info",
        method: "/user.UserService/GetUser",
        code: "NOT_FOUND",
        traceId: traceIdFromTraceparent(traceparent(2)),
        msg: "call failed",
      },
      {
        level: "info",
        method: "/user.UserService/ListUsers",
        code: "OK",
        traceId: traceIdFromTraceparent(traceparent(3)),
        msg: "call finished",
      },
      // No traceparent, no tracing: no trace id.
      { level: "info", method: "/user.UserService/GetUser", code: "OK", traceId: undefined, msg: "call finished" },
    ]);
    for (const line of calls) expect(line.ms).toEqual(expect.any(Number));
  });

  it("starts a server span as a child of the caller's traceparent and records the status code", async () => {
    running = await startServer(runtime, [tracingHook(provider.getTracer("test"))]);
    const { client } = running;
    const user = await client.getUser({ id: "1" }, withTraceparent(TRACEPARENT));
    await client.getUser({ id: "missing" }, withTraceparent(TRACEPARENT)).catch(() => undefined);

    await expect.poll(() => exporter.getFinishedSpans()).toHaveLength(2);
    const [ok, notFound] = exporter.getFinishedSpans() as [ReadableSpan, ReadableSpan];
    for (const span of [ok, notFound]) {
      expect(span.name).toBe("user.UserService/GetUser");
      expect(span.kind).toBe(SpanKind.SERVER);
      expect(span.spanContext().traceId).toBe(TRACE_ID);
      expect(span.parentSpanContext?.spanId).toBe(CALLER_SPAN_ID);
      expect(span.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.service": "user.UserService",
        "rpc.method": "GetUser",
      });
    }
    expect(ok.attributes["rpc.grpc.status_code"]).toBe(Status.OK);
    expect(notFound.attributes["rpc.grpc.status_code"]).toBe(Status.NOT_FOUND);
    // NOT_FOUND is the caller's problem, not the server's: the span is not an error.
    expect(notFound.status.code).toBe(SpanStatusCode.UNSET);

    // The handler's outgoing calls carry the same trace with this server span as their parent.
    expect(user.username).toBe(`00-${TRACE_ID}-${ok.spanContext().spanId}-01`);
    await expect.poll(() => running!.lines().filter((line) => line.traceId === TRACE_ID)).toHaveLength(2);
  });

  it("logs the trace id of a new trace when the caller sent no traceparent", async () => {
    running = await startServer(runtime, [tracingHook(provider.getTracer("test"))]);
    await running.client.getUser({ id: "1" });
    await expect.poll(() => exporter.getFinishedSpans()).toHaveLength(1);
    const span = exporter.getFinishedSpans()[0]!;
    expect(span.parentSpanContext).toBeUndefined();
    await expect
      .poll(() => running!.lines().find((line) => line.msg === "call finished")?.traceId)
      .toBe(span.spanContext().traceId);
  });

  it("passes the caller's trace on unchanged when tracing is off (no-op tracer)", async () => {
    const tracing = startTracing({ serviceName: "observability-test" });
    expect(tracing.enabled).toBe(false);
    running = await startServer(runtime, [tracingHook(tracing.tracer)]);
    expect((await running.client.getUser({ id: "1" }, withTraceparent(TRACEPARENT))).username).toBe(TRACEPARENT);
    expect((await running.client.getUser({ id: "1" })).username).toBe("");
  });
});

describe("startTracing", () => {
  it("exports server spans over OTLP/HTTP to the configured endpoint", async () => {
    const received: { path: string; type: string; body: string }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ path: req.url ?? "", type: req.headers["content-type"] ?? "", body });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const { port } = collector.address() as { port: number };
    const tracing = startTracing({ serviceName: "observability-test", endpoint: `http://127.0.0.1:${port}` });
    try {
      expect(tracing.enabled).toBe(true);
      const running = await startServer("grpc-js", [tracingHook(tracing.tracer)]);
      await running.client.getUser({ id: "1" }, withTraceparent(TRACEPARENT));
      await running.stop();
      await tracing.shutdown();
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ path: "/v1/traces", type: "application/json" });
      const body = received[0]!.body;
      expect(body).toContain('"observability-test"');
      expect(body).toContain('"user.UserService/GetUser"');
      expect(body).toContain(TRACE_ID);
    } finally {
      await tracing.shutdown();
      await new Promise((resolve) => collector.close(resolve));
    }
  });
});

describe("startMetricsServer", () => {
  let server: MetricsServerHandle;
  beforeAll(async () => {
    server = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      registry: createMetricsRegistry({ processMetrics: true }),
    });
  });
  afterAll(() => server.close());

  it("serves process metrics next to the gRPC ones, and nothing but /metrics", async () => {
    const res = await fetch(server.url);
    expect(await res.text()).toContain("process_cpu_seconds_total");
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
  });
});

describe("observability config", () => {
  it("serves metrics on 9464 by default, and takes 0 for a free port or false to turn them off", () => {
    expect(metricsEnvSchema.parse({})).toEqual({ METRICS_ENABLED: true, METRICS_PORT: 9464 });
    expect(metricsEnvSchema.parse({ METRICS_PORT: "0", METRICS_ENABLED: "false" })).toEqual({
      METRICS_ENABLED: false,
      METRICS_PORT: 0,
    });
    expect(metricsEnvSchema.safeParse({ METRICS_PORT: "70000" }).success).toBe(false);
  });

  it("leaves tracing off unless an OTLP endpoint is set", () => {
    expect(tracingEnvSchema.parse({})).toEqual({});
    expect(tracingEnvSchema.safeParse({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" }).success).toBe(false);
  });

  it("reads only valid traceparent headers", () => {
    expect(traceIdFromTraceparent(TRACEPARENT)).toBe(TRACE_ID);
    expect(traceIdFromTraceparent(`00-${"0".repeat(32)}-${CALLER_SPAN_ID}-01`)).toBeUndefined();
    expect(traceIdFromTraceparent(`ff-${TRACE_ID}-${CALLER_SPAN_ID}-01`)).toBeUndefined();
    expect(traceIdFromTraceparent(`00-${TRACE_ID.toUpperCase()}-${CALLER_SPAN_ID}-01`)).toBeUndefined();
    expect(traceIdFromTraceparent(`01-${TRACE_ID}-${CALLER_SPAN_ID}-01-future`)).toBe(TRACE_ID);
    expect(traceIdFromTraceparent(undefined)).toBeUndefined();
  });
});
