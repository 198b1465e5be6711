import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SuiteReport } from "../src/report.js";
import { formatSummary, summarize, type Problem, type Summary } from "../src/summarize.js";
import { readTurboTasks } from "../src/turbo-runs.js";
import { expectedSuites } from "../src/workspace-suites.js";

const packageDir = resolve(import.meta.dirname, "..");
const repoRoot = resolve(packageDir, "../..");
const fixture = join(packageDir, "testdata/workspace");

/** The environment of a run started here, without what the pnpm and turbo running this test set. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("npm_") && !name.startsWith("TURBO_")),
  );
  return { ...env, PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`, ...extra };
}

function readReports(dir: string): Map<string, SuiteReport | Error> {
  return new Map(
    readdirSync(dir).map((file) => [file, JSON.parse(readFileSync(join(dir, file), "utf8")) as SuiteReport]),
  );
}

/**
 * The fixture workspace (testdata/workspace) is a turbo workspace of deliberately broken suites:
 * each test below is one rule of the count, proved on the suite that breaks it. turbo runs it for
 * real, with the root's flags, as CI runs the repository.
 */
describe("the count of a workspace of broken suites", () => {
  let reportDir: string;
  let run: { status: number | null; output: string };
  let summary: Summary;
  const problemsOf = (suite: string): Problem[] =>
    summary.problems.filter(
      (problem) => problem.name.includes(`/suites/${suite}/`) || problem.name.includes(`fixture-${suite}`),
    );

  beforeAll(() => {
    reportDir = mkdtempSync(join(tmpdir(), "polyrpc-reports-"));
    rmSync(join(fixture, ".turbo"), { recursive: true, force: true });
    const turbo = spawnSync(
      join(repoRoot, "node_modules/.bin/turbo"),
      ["run", "typecheck", "test", "--concurrency=1", "--continue=always"],
      {
        cwd: fixture,
        encoding: "utf8",
        env: cleanEnv({ POLYRPC_TEST_REPORT_DIR: reportDir, TURBO_RUN_SUMMARY: "true", TURBO_TELEMETRY_DISABLED: "1" }),
      },
    );
    run = { status: turbo.status, output: `${turbo.stdout}${turbo.stderr}` };
    summary = summarize({
      reports: readReports(reportDir),
      expected: expectedSuites(fixture),
      tasks: readTurboTasks(join(fixture, ".turbo/runs")),
      status: run.status ?? 1,
    });
  }, 180_000);

  afterAll(() => {
    rmSync(reportDir, { recursive: true, force: true });
    rmSync(join(fixture, ".turbo"), { recursive: true, force: true });
  });

  it("runs every suite even when an earlier task failed, its dependency's typecheck included", () => {
    expect(run.status, run.output).not.toBe(0);
    const reports = readdirSync(reportDir).sort();
    // Every suite that can report did, fixture-passing among them though its dependency failed.
    expect(reports).toEqual([
      "fixture-crashing-worker.test.json",
      "fixture-exiting-test.test.json",
      "fixture-failing-before-all.test.json",
      "fixture-failing-import.test.json",
      "fixture-failing-test.test.json",
      "fixture-failing-typecheck.test.json",
      "fixture-go-subtests.test.json",
      "fixture-passing.test.json",
      "fixture-skipped-and-todo.test.json",
    ]);
    expect(problemsOf("passing")).toEqual([]);
  });

  it("counts a failed typecheck as a failure of its own", () => {
    expect(problemsOf("failing-typecheck")).toEqual([
      { kind: "task failed", name: "fixture-failing-typecheck#typecheck", message: "exited 1" },
    ]);
  });

  it("counts a failing test once", () => {
    expect(problemsOf("failing-test").map(({ kind, name }) => [kind, name.split(" > ")[1]])).toEqual([
      ["failed", "fails"],
    ]);
  });

  it("counts the tests under a failing beforeAll as failures, with the hook's error", () => {
    const problems = problemsOf("failing-before-all");
    expect(problems.map(({ kind, name }) => [kind, name.split(" > ")[1]])).toEqual([
      ["not run", "answers"],
      ["not run", "answers again"],
    ]);
    expect(problems[0]!.message).toContain("the server did not start");
  });

  it("counts the tests of a crashed worker as failures, though vitest calls that run a success", () => {
    const report = readReports(reportDir).get("fixture-crashing-worker.test.json") as SuiteReport;
    expect(report.success).toBe(true);
    expect(problemsOf("crashing-worker").map(({ kind }) => kind)).toEqual(["not run", "not run"]);
  });

  it("counts a test that exits the process as failed", () => {
    const problems = problemsOf("exiting-test");
    expect(problems.map(({ kind, name }) => [kind, name.split(" > ")[1]])).toEqual([["failed", "exits"]]);
    expect(problems[0]!.message).toContain("process.exit unexpectedly called");
  });

  it("counts a test file that fails to load as one failure", () => {
    expect(problemsOf("failing-import")).toEqual([
      expect.objectContaining({
        kind: "file failed",
        message: expect.stringContaining("a module this file imports is broken"),
      }),
    ]);
  });

  it("counts a suite whose runner failed to start, and one that wrote nothing, as missing reports", () => {
    expect(problemsOf("broken-config").map(({ kind }) => kind)).toEqual(["no report"]);
    expect(problemsOf("silent").map(({ kind }) => kind)).toEqual(["no report"]);
  });

  it("counts and prints skipped and todo tests", () => {
    expect(problemsOf("skipped-and-todo").map(({ kind, message }) => [kind, message])).toEqual([
      ["not run", "skipped"],
      ["not run", "todo"],
    ]);
    const printed = formatSummary(summary, repoRoot);
    expect(printed).toContain(
      "NOT RUN tests/reporting/testdata/workspace/suites/skipped-and-todo/test/skipped.test.ts > is skipped",
    );
    expect(printed).toContain(
      "NOT RUN tests/reporting/testdata/workspace/suites/skipped-and-todo/test/skipped.test.ts > is still to write",
    );
  });

  it("counts Go's leaf tests once, a skipped one as a failure and a package that does not build as one", () => {
    const report = readReports(reportDir).get("fixture-go-subtests.test.json") as SuiteReport;
    const table = report.testResults.find((file) => file.name === "example.com/fixture/table")!;
    expect(table.assertionResults.map(({ fullName, status }) => [fullName, status])).toEqual([
      ["TestTable/a", "passed"],
      ["TestTable/b", "passed"],
      ["TestTable/c", "failed"],
      ["TestPlain", "passed"],
      ["TestSkipped", "skipped"],
    ]);
    const problems = summary.problems.filter((problem) => problem.name.startsWith("example.com/fixture/"));
    expect(problems.map(({ kind, name }) => [kind, name])).toEqual([
      ["file failed", "example.com/fixture/broken"],
      ["failed", "example.com/fixture/table > TestTable/c"],
      ["not run", "example.com/fixture/table > TestSkipped"],
    ]);
    expect(problems[0]!.message).toContain("undefined: undefinedFunction");
    expect(problems[2]!.message).toContain("not on this machine");
  });

  it("adds it all up: only passing tests pass, every other result fails once", () => {
    // passing 2, failing-typecheck 1, failing-test 1, exiting-test 2, skipped-and-todo 1, Go 3.
    expect(summary.passed).toBe(10);
    expect(summary.failed).toBe(15);
    expect(formatSummary(summary).split("\n").at(-1)).toBe("10 passed, 15 failed");
  });

  it("prints the same count from the command line CI runs, and exits non-zero", () => {
    const cli = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        join(packageDir, "src/main.ts"),
        "--reports",
        reportDir,
        "--turbo-runs",
        join(fixture, ".turbo/runs"),
        "--status",
        "0",
        "--workspace",
        fixture,
      ],
      { cwd: repoRoot, encoding: "utf8", env: cleanEnv({}) },
    );
    expect(cli.stdout.trim().split("\n").at(-1)).toBe("10 passed, 15 failed");
    // The run's own status said 0, but the count found failures: CI must not go green.
    expect(cli.status).toBe(1);
  });
});

describe("summarize", () => {
  const passing: SuiteReport = {
    success: true,
    testResults: [{ name: "a.test.ts", status: "passed", assertionResults: [{ fullName: "works", status: "passed" }] }],
  };
  const suite = { packageName: "@x/a", script: "test", report: "x-a.test.json" };

  it("counts a failed run with every counted result passing as one failure", () => {
    const result = summarize({
      reports: new Map([["x-a.test.json", passing]]),
      expected: [suite],
      tasks: [],
      status: 2,
    });
    expect(result).toEqual({
      passed: 1,
      failed: 1,
      problems: [{ kind: "run failed", name: "the run", message: "exited 2 with every counted result passing" }],
    });
  });

  it("counts a report that cannot be read", () => {
    const result = summarize({
      reports: new Map<string, SuiteReport | Error>([["x-a.test.json", new Error("Unexpected end of JSON input")]]),
      expected: [suite],
      tasks: [],
      status: 1,
    });
    expect(result.problems.map(({ kind }) => kind)).toEqual(["unreadable report"]);
  });

  it("counts a runner that reports failure with every test passing", () => {
    const result = summarize({
      reports: new Map([["x-a.test.json", { ...passing, success: false }]]),
      expected: [suite],
      tasks: [],
      status: 1,
    });
    expect(result.problems.map(({ kind }) => kind)).toEqual(["suite failed"]);
  });

  it("counts a failed suite task once: by its tests when they failed, by itself when none did", () => {
    const failing: SuiteReport = {
      success: false,
      testResults: [
        { name: "a.test.ts", status: "failed", assertionResults: [{ fullName: "breaks", status: "failed" }] },
      ],
    };
    const task = { taskId: "@x/a#test", package: "@x/a", task: "test", exitCode: 1 };
    const explained = summarize({
      reports: new Map([["x-a.test.json", failing]]),
      expected: [suite],
      tasks: [task],
      status: 1,
    });
    expect(explained.problems.map(({ kind }) => kind)).toEqual(["failed"]);
    const unexplained = summarize({
      reports: new Map([["x-a.test.json", passing]]),
      expected: [suite],
      tasks: [task],
      status: 1,
    });
    expect(unexplained.problems).toEqual([{ kind: "task failed", name: "@x/a#test", message: "exited 1" }]);
  });
});

describe("this repository's suites", () => {
  it("are every package with a test or test:cluster script, each with its own report", () => {
    const suites = expectedSuites(repoRoot);
    const names = suites.map(({ packageName, script }) => `${packageName} ${script}`);
    expect(names).toContain("@polyrpc/tests-reporting test");
    expect(names).toContain("@polyrpc/interop-go test");
    expect(names).toContain("@polyrpc/interop-python test");
    expect(names).toContain("@polyrpc/tests-cluster test:cluster");
    expect(new Set(suites.map(({ report }) => report)).size).toBe(suites.length);
  });

  it("run in full even when one fails: the test commands keep going", () => {
    const { scripts } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(scripts.test).toMatch(/^turbo run format:check lint typecheck test .*--continue=always/);
    expect(scripts["test:cluster"]).toMatch(/--continue=always/);
  });
});
