import { performance } from "node:perf_hooks";
import { status as Status } from "@grpc/grpc-js";
import { AggregatorRegistry, type Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CallHook, CallInfo, CallTap, MethodKind } from "../src/call-hooks.js";
import { createMetricsRegistry, metricsHook } from "../src/observability/index.js";

/** Runs one call through `hook` that takes `ms` on a fake clock, with so many messages each way. */
function call(
  hook: CallHook,
  method: string,
  kind: MethodKind,
  {
    requests = 1,
    responses = 1,
    ms = 0,
    code = Status.OK,
  }: Partial<Record<"requests" | "responses" | "ms", number>> & {
    code?: Status;
  } = {},
): void {
  let now = 1_000;
  const clock = vi.spyOn(performance, "now").mockImplementation(() => now);
  const tap = hook.start({ service: "user.UserService", method, kind } as CallInfo) as CallTap;
  for (let i = 0; i < requests; i++) tap.request?.({});
  for (let i = 0; i < responses; i++) tap.response?.({});
  now += ms;
  tap.end?.(code, "");
  clock.mockRestore();
}

const HELP = {
  handling:
    "# HELP grpc_server_handling_seconds Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.\n" +
    "# TYPE grpc_server_handling_seconds histogram",
  started:
    "# HELP grpc_server_started_total Total number of RPCs started on the server.\n" +
    "# TYPE grpc_server_started_total counter",
  handled:
    "# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.\n" +
    "# TYPE grpc_server_handled_total counter",
  received:
    "# HELP grpc_server_msg_received_total Total number of RPC stream messages received on the server.\n" +
    "# TYPE grpc_server_msg_received_total counter",
  sent:
    "# HELP grpc_server_msg_sent_total Total number of gRPC stream messages sent by the server.\n" +
    "# TYPE grpc_server_msg_sent_total counter",
};

const GET_USER = 'grpc_type="unary",grpc_service="user.UserService",grpc_method="GetUser"';
const LIST_USERS = 'grpc_type="server_stream",grpc_service="user.UserService",grpc_method="ListUsers"';

/** The histogram lines of one series: cumulative counts for 5 ms..10 s, then +Inf, sum and count. */
function histogram(labels: string, cumulative: number[], sum: number, count: number): string[] {
  const le = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"];
  return [
    ...le.map((bound, i) => `grpc_server_handling_seconds_bucket{le="${bound}",${labels}} ${cumulative[i]}`),
    `grpc_server_handling_seconds_bucket{le="+Inf",${labels}} ${count}`,
    `grpc_server_handling_seconds_sum{${labels}} ${sum}`,
    `grpc_server_handling_seconds_count{${labels}} ${count}`,
  ];
}

/** What prom-client's Counter and Histogram exposed for the calls of `knownCalls`. */
const EXPECTED_EXPOSITION = [
  HELP.handling,
  ...histogram(GET_USER, [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3], 14.25, 4),
  ...histogram(LIST_USERS, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], 0.5, 1),
  "",
  HELP.started,
  `grpc_server_started_total{${GET_USER}} 4`,
  `grpc_server_started_total{${LIST_USERS}} 1`,
  "",
  HELP.handled,
  `grpc_server_handled_total{${GET_USER},grpc_code="OK"} 3`,
  `grpc_server_handled_total{${GET_USER},grpc_code="NotFound"} 1`,
  `grpc_server_handled_total{${LIST_USERS},grpc_code="OK"} 1`,
  "",
  HELP.received,
  `grpc_server_msg_received_total{${GET_USER}} 4`,
  `grpc_server_msg_received_total{${LIST_USERS}} 1`,
  "",
  HELP.sent,
  `grpc_server_msg_sent_total{${GET_USER}} 3`,
  `grpc_server_msg_sent_total{${LIST_USERS}} 4`,
  "",
].join("\n");

/** GetUser: 0 s, 0.25 s (NotFound), 2 s, 12 s (past the last bucket); ListUsers: 0.5 s, 4 responses. */
function knownCalls(getUser: CallHook, listUsers: CallHook = getUser): void {
  call(getUser, "GetUser", "unary", { ms: 0 });
  call(getUser, "GetUser", "unary", { ms: 250, responses: 0, code: Status.NOT_FOUND });
  call(listUsers, "ListUsers", "server_streaming", { ms: 500, responses: 4 });
  call(getUser, "GetUser", "unary", { ms: 2_000 });
  call(getUser, "GetUser", "unary", { ms: 12_000 });
}

describe("metricsHook", () => {
  afterEach(() => vi.restoreAllMocks());

  it("exposes go-grpc-prometheus's series exactly as prom-client's Counter and Histogram did", async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const hook = metricsHook(registry);
    expect(await registry.metrics()).toBe(
      [HELP.handling, "", HELP.started, "", HELP.handled, "", HELP.received, "", HELP.sent, ""].join("\n"),
    );
    knownCalls(hook);
    expect(await registry.metrics()).toBe(EXPECTED_EXPOSITION);
  });

  it("adds up the calls of two hooks on one registry (both runtimes' servers in one process)", async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const [grpcJs, connect] = [metricsHook(registry), metricsHook(registry)];
    knownCalls(grpcJs, connect);
    expect(await registry.metrics()).toBe(EXPECTED_EXPOSITION);
    expect(registry.getMetricsAsArray()).toHaveLength(5);
  });

  it("keeps series of other registries apart, next to the process metrics", async () => {
    const [a, b] = [createMetricsRegistry(), createMetricsRegistry({ processMetrics: false })];
    knownCalls(metricsHook(a));
    call(metricsHook(b), "GetUser", "unary");
    const text = await a.metrics();
    expect(text).toContain("process_cpu_seconds_total");
    expect(text).toContain(EXPECTED_EXPOSITION);
    expect(await b.metrics()).toContain(`grpc_server_started_total{${GET_USER}} 1\n`);
  });

  it("sums across registries as cluster workers' metrics are (getMetricsAsJSON + AggregatorRegistry)", async () => {
    const workers: Registry[] = [];
    for (let i = 0; i < 2; i++) {
      const registry = createMetricsRegistry({ processMetrics: false });
      call(metricsHook(registry), "GetUser", "unary", { ms: 20 });
      workers.push(registry);
    }
    const text = await AggregatorRegistry.aggregate(
      await Promise.all(workers.map((r) => r.getMetricsAsJSON())),
    ).metrics();
    expect(text).toContain(`grpc_server_handling_seconds_bucket{le="0.01",${GET_USER}} 0\n`);
    expect(text).toContain(`grpc_server_handling_seconds_bucket{le="0.025",${GET_USER}} 2\n`);
    expect(text).toContain(`grpc_server_handling_seconds_sum{${GET_USER}} 0.04\n`);
    expect(text).toContain(`grpc_server_handled_total{${GET_USER},grpc_code="OK"} 2\n`);
  });

  it("drops every series on resetMetrics() until calls come again", async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const hook = metricsHook(registry);
    call(hook, "ListUsers", "server_streaming");
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain("{");
    knownCalls(hook);
    expect(await registry.metrics()).toBe(EXPECTED_EXPOSITION);
  });
});
