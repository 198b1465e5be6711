import { describe, expect, it } from "vitest";
import { parseGhzReport, withoutCutOff } from "../src/ghz.js";
import { parseH2loadReport } from "../src/h2load.js";
import { spread } from "../src/stats.js";

describe("parseGhzReport", () => {
  it("reads counts, rate and latency percentiles in milliseconds, and counts non-OK calls as errors", () => {
    const report = JSON.stringify({
      count: 300,
      total: 1_500_000_000,
      average: 2_000_000,
      rps: 200,
      latencyDistribution: [
        { percentage: 50, latency: 1_500_000 },
        { percentage: 90, latency: 3_000_000 },
        { percentage: 99, latency: 9_000_000 },
      ],
      statusCodeDistribution: { OK: 298, NotFound: 2 },
      errorDistribution: { "rpc error: code = NotFound": 2 },
    });
    expect(parseGhzReport(report)).toEqual({
      count: 300,
      ok: 298,
      errors: { NotFound: 2, "rpc error: code = NotFound": 2 },
      totalS: 1.5,
      rps: 200,
      p50Ms: 1.5,
      p90Ms: 3,
      p99Ms: 9,
      meanMs: 2,
    });
  });
});

describe("withoutCutOff", () => {
  it("drops the calls a --duration run cut off at its end and rates only the OK calls", () => {
    const report = {
      count: 110,
      ok: 100,
      errors: {
        Unavailable: 8,
        "rpc error: code = Unavailable desc = transport is closing": 6,
        "rpc error: code = Unavailable desc = other": 2,
        Canceled: 2,
        "rpc error: code = Canceled desc = grpc: the client connection is closing": 2,
      },
      totalS: 2,
      rps: 55,
      p50Ms: 1,
      p90Ms: 2,
      p99Ms: 3,
      meanMs: 1,
    };
    expect(withoutCutOff(report)).toMatchObject({
      rps: 50,
      errors: { Unavailable: 2, "rpc error: code = Unavailable desc = other": 2 },
    });
  });
});

describe("parseH2loadReport", () => {
  it("reads the rate, the outcome counts and the mean request time", () => {
    const text = [
      "finished in 2.00s, 12345.50 req/s, 1.20MB/s",
      "requests: 24691 total, 24691 started, 24691 done, 24690 succeeded, 1 failed, 0 errored, 0 timeout",
      "status codes: 24690 2xx, 0 3xx, 0 4xx, 0 5xx",
      "                     min         max         mean         sd        +/- sd",
      "time for request:      110us     12.51ms      5.12ms      1.01ms    80.00%",
    ].join("\n");
    expect(parseH2loadReport(text)).toEqual({ rps: 12345.5, succeeded: 24690, failed: 1, errored: 0, meanMs: 5.12 });
  });
});

describe("spread", () => {
  it("gives the median, min and max of repetitions", () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    expect(spread([4, 1, 2, 3]).median).toBe(2.5);
  });
});
