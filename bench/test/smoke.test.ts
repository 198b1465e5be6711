import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBench } from "../src/bench.js";
import type { BenchResults } from "../src/results.js";
import { profiles } from "../src/profiles.js";

const outDir = mkdtempSync(join(tmpdir(), "polyrpc-bench-smoke-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Every metric of every point is a finite number: the load generators' output was parsed. */
function expectParsed(results: BenchResults, scenario: string, servers: string[]) {
  const points = results.points.filter((p) => p.scenario === scenario);
  expect(points.map((p) => p.server)).toEqual(expect.arrayContaining(servers));
  for (const point of points) {
    expect(Object.keys(point.metrics).length, `${scenario} on ${point.server}`).toBeGreaterThan(0);
    for (const [name, spread] of Object.entries(point.metrics)) {
      expect(Number.isFinite(spread.median), `${scenario} ${point.server} ${name}`).toBe(true);
    }
    expect(point.errors, `${scenario} on ${point.server}`).toEqual({});
    expect(point.serverPeakRssMiB.median).toBeGreaterThan(0);
  }
}

describe("the benchmark harness (smoke profile: a few hundred calls per server, timings not judged)", () => {
  it(
    "measures every scenario on every server and writes JSON, markdown and SVG charts",
    { timeout: 900_000 },
    async () => {
      const results = await runBench({
        profile: profiles.smoke,
        groups: ["users", "runtimes", "fanout"],
        outDir,
        log: () => {},
      });

      const unary = ["polyrpc", "go", "python"];
      expectParsed(results, "unary GetUser", unary);
      expectParsed(results, "unary CreateUser", unary);
      expectParsed(results, "bidi Chat echo", [...unary, "grpc-js", "connect-node"]);
      expectParsed(results, "stream CreateUsers", unary);
      expectParsed(results, "stream ListUsers", ["polyrpc"]);
      expectParsed(results, "runtimes GetUser", ["grpc-js", "connect-node"]);
      expectParsed(results, "chat fan-out", ["chat x1 (SQLite)"]);
      const h2load = results.points.filter((p) => p.loadgen === "h2load");
      expect(h2load.length).toBeGreaterThan(0);

      const written = JSON.parse(readFileSync(join(outDir, "results.json"), "utf8")) as BenchResults;
      expect(written.points.length).toBe(results.points.length);
      expect(readFileSync(join(outDir, "results.md"), "utf8")).toContain("## unary GetUser — per-core");
      const charts = readdirSync(join(outDir, "charts"));
      expect(charts).toContain("unary-getuser-per-core.svg");
      expect(readFileSync(join(outDir, "charts", "unary-getuser-per-core.svg"), "utf8")).toMatch(/^<svg[^]*<\/svg>\n$/);
      expect(existsSync(join(outDir, "charts", "chat-fan-out-per-core.svg"))).toBe(true);
    },
  );
});
