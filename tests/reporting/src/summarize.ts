import type { SuiteReport } from "./report.js";
import type { TurboTask } from "./turbo-runs.js";
import type { ExpectedSuite } from "./workspace-suites.js";

/** Why a result counts against the run; each problem is one failure in the closing line. */
export type ProblemKind =
  | "failed" // a test failed
  | "not run" // a test was skipped, pending or todo, or never ran because its file's hook threw
  | "file failed" // a test file failed with no test failing (it did not load, a hook threw)
  | "suite failed" // the runner reported failure with no test or file failing (a crashed worker)
  | "no report" // an expected suite wrote no report: it never ran, or its runner did not start
  | "unreadable report"
  | "task failed" // a turbo task failed: lint, typecheck, build, or a suite that counted nothing
  | "run failed"; // the run failed and nothing above says why

export interface Problem {
  kind: ProblemKind;
  name: string;
  message: string;
}

export interface Summary {
  passed: number;
  failed: number;
  problems: Problem[];
}

export interface SummaryInput {
  /** Report file name → its parsed contents, or the error that stopped it being read. */
  reports: Map<string, SuiteReport | Error>;
  /** The suites the workspace declares; each must have written a report. */
  expected: ExpectedSuite[];
  /** The tasks of the turbo runs (empty when there were none). */
  tasks: TurboTask[];
  /** The exit status of the whole run. */
  status: number;
}

const NOT_RUN = new Set(["skipped", "pending", "todo", "disabled"]);

/**
 * Counts a run. Only a test that passed counts as passed; everything that is not a pass is a
 * failure, once: a failed or skipped test, a test file that failed outside its tests, a suite that
 * wrote no report, a failed task that no test explains, and a failed run with nothing else failed.
 */
export function summarize({ reports, expected, tasks, status }: SummaryInput): Summary {
  let passed = 0;
  const problems: Problem[] = [];
  /** Failures per report file, to tell whether a failed task is already explained by its tests. */
  const failuresByReport = new Map<string, number>();

  for (const [file, report] of [...reports].sort(([a], [b]) => a.localeCompare(b))) {
    const before = problems.length;
    if (report instanceof Error) {
      problems.push({ kind: "unreadable report", name: file, message: report.message });
    } else {
      for (const result of report.testResults ?? []) {
        const fileBefore = problems.length;
        for (const test of result.assertionResults ?? []) {
          const name = `${result.name} > ${test.fullName}`;
          if (test.status === "passed") passed += 1;
          else if (NOT_RUN.has(test.status)) {
            // Why it did not run: its own output (Go's t.Skip), else its file's failure (a hook).
            const why = test.failureMessages?.find(Boolean) ?? (result.status === "failed" ? result.message : "");
            problems.push({ kind: "not run", name, message: why ? `${test.status}: ${why}` : test.status });
          } else problems.push({ kind: "failed", name, message: (test.failureMessages ?? []).join("\n") });
        }
        if (result.status === "failed" && problems.length === fileBefore) {
          problems.push({ kind: "file failed", name: result.name, message: result.message ?? "" });
        }
      }
      if (report.success === false && problems.length === before) {
        problems.push({
          kind: "suite failed",
          name: file,
          message: "the runner reported a failure outside every test",
        });
      }
    }
    failuresByReport.set(file, problems.length - before);
  }

  const suiteByTask = new Map(expected.map((suite) => [`${suite.packageName}#${suite.script}`, suite]));
  for (const suite of expected) {
    if (!reports.has(suite.report)) {
      problems.push({
        kind: "no report",
        name: `${suite.packageName} (${suite.script})`,
        message: `wrote no ${suite.report}: the suite did not run, or its runner failed before reporting`,
      });
    }
  }

  for (const task of tasks) {
    if (task.exitCode === 0) continue;
    const suite = suiteByTask.get(task.taskId);
    // A suite's failing task is explained by its report's failures, or by its missing report.
    if (suite && (!reports.has(suite.report) || (failuresByReport.get(suite.report) ?? 0) > 0)) continue;
    problems.push({
      kind: "task failed",
      name: task.taskId,
      message: task.exitCode === null ? "never ran" : `exited ${task.exitCode}`,
    });
  }

  if (status !== 0 && problems.length === 0) {
    problems.push({
      kind: "run failed",
      name: "the run",
      message: `exited ${status} with every counted result passing`,
    });
  }
  return { passed, failed: problems.length, problems };
}

/**
 * The summary as CI prints it: each problem with the first lines of its message (paths relative to
 * `root`), then the totals.
 */
export function formatSummary({ passed, failed, problems }: Summary, root = "", messageLines = 8): string {
  const lines: string[] = [];
  for (const { kind, name, message } of problems) {
    lines.push(`${kind.toUpperCase()} ${root && name.startsWith(`${root}/`) ? name.slice(root.length + 1) : name}`);
    for (const line of message.split("\n").slice(0, messageLines)) if (line) lines.push(`    ${line}`);
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return lines.join("\n");
}
