import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { Runtime } from "../src/index.js";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** connectrpc's conformance runner, built by scripts/setup.sh (setup.d/40-conformance.sh). */
const runner = resolve(packageDir, "../../.tools/bin/connectconformance");

interface SuiteRun {
  runtime: Runtime;
  /** Under config/: the features the runtime supports, and the cases it is known to fail. */
  config: string;
  knownFailing: string;
  /** Cases that may fail either way (`--known-flaky`), each with its reason in the file. */
  knownFlaky?: string;
  /**
   * How many cases connectconformance v1.0.7 derives from the config: exact, so that a config
   * that loses a protocol, codec or TLS mode (or runs nothing) fails here. Changes with the
   * runner's version or the config, never with a fix.
   */
  cases: number;
}

const SUITES: readonly SuiteRun[] = [
  { runtime: "grpc-js", config: "grpc-js.yaml", knownFailing: "grpc-js.known-failing.txt", cases: 570 },
  {
    runtime: "connect",
    config: "connect.yaml",
    knownFailing: "connect.known-failing.txt",
    knownFlaky: "connect.known-flaky.txt",
    cases: 3640,
  },
];

interface RunnerResult {
  code: number;
  output: string;
}

/**
 * Runs connectconformance in server mode against src/server-under-test.ts on `runtime`. Two
 * cases at a time: the machine has two cores, and the runner's default (4 per core) makes the
 * timing cases (deadlines, delays) race the CPU rather than the server.
 */
function runConformance(runtime: Runtime, args: readonly string[]): Promise<RunnerResult> {
  if (!existsSync(runner)) {
    throw new Error(`connectconformance is missing at ${runner}: run \`bash scripts/setup.sh\``);
  }
  const server = [
    process.execPath,
    "--conditions=polyrpc-source",
    "--import",
    "tsx",
    join(packageDir, "src/server-under-test.ts"),
    "--runtime",
    runtime,
  ];
  return new Promise((resolvePromise) => {
    execFile(
      runner,
      ["--mode", "server", "--parallel", "2", ...args, "--", ...server],
      // The server under test resolves tsx and the workspace from this package.
      { cwd: packageDir, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** The runner's closing summary: `Total cases: N` / `P passed, F failed`, and what it could not run. */
function summaryOf(output: string) {
  const total = /^Total cases: (\d+)$/m.exec(output);
  const counts = /^(\d+) passed, (\d+) failed$/m.exec(output);
  const expectedFailures = /^\(Another (\d+) failed as expected/m.exec(output);
  const notRun = /^Another (\d+) could not be run/m.exec(output);
  return {
    total: total ? Number(total[1]) : undefined,
    passed: counts ? Number(counts[1]) : undefined,
    failed: counts ? Number(counts[2]) : undefined,
    expectedFailures: expectedFailures ? Number(expectedFailures[1]) : 0,
    notRun: notRun ? Number(notRun[1]) : 0,
  };
}

describe.each(SUITES)(
  "connectconformance --mode server on $runtime",
  ({ runtime, config, knownFailing, knownFlaky, cases }) => {
    it(`passes all ${cases} cases of config/${config} but those in config/${knownFailing}`, async () => {
      const run = await runConformance(runtime, [
        "--conf",
        join(packageDir, "config", config),
        "--known-failing",
        `@${join(packageDir, "config", knownFailing)}`,
        ...(knownFlaky ? ["--known-flaky", `@${join(packageDir, "config", knownFlaky)}`] : []),
      ]);
      const summary = summaryOf(run.output);
      expect(run.code, run.output).toBe(0);
      expect(summary.total, run.output).toBe(cases);
      expect(summary.failed, run.output).toBe(0);
      // The runner exits 0 even when the client gave up on some cases; none may be left unrun.
      expect(summary.notRun, run.output).toBe(0);
      expect((summary.passed ?? 0) + summary.expectedFailures, run.output).toBe(cases);
    }, 300_000);
  },
);

describe("the known-failing lists", () => {
  const scratch = mkdtempSync(join(tmpdir(), "polyrpc-conformance-known-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("fail the run when a case they list passes", async () => {
    // A case that passes, listed as known to fail the way config/*.known-failing.txt are read.
    const passing =
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_GRPC/Codec:CODEC_PROTO/Compression:COMPRESSION_IDENTITY/TLS:false/unary/success";
    const list = join(scratch, "stale.txt");
    writeFileSync(list, `# passes, so listing it is stale\n${passing}\n`);
    const run = await runConformance("grpc-js", [
      "--conf",
      join(packageDir, "config/grpc-js.yaml"),
      "--run",
      passing,
      "--known-failing",
      `@${list}`,
    ]);
    expect(run.output).toContain(`FAILED: ${passing} was expected to fail but did not`);
    expect(summaryOf(run.output).total, run.output).toBe(1);
    expect(run.code, run.output).not.toBe(0);
  }, 120_000);
});
