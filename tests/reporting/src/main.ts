/**
 * CI's closing line: reads the suite reports in a directory, the turbo run summaries and the
 * workspace's suites, prints every failure and `N passed, M failed`, and exits with the run's status
 * (or 1 when the count found a failure the status missed).
 *
 *   node --import tsx tests/reporting/src/main.ts --reports DIR --turbo-runs DIR --status N [--workspace DIR]
 */
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { SuiteReport } from "./report.js";
import { formatSummary, summarize } from "./summarize.js";
import { readTurboTasks } from "./turbo-runs.js";
import { expectedSuites } from "./workspace-suites.js";

const { values } = parseArgs({
  options: {
    reports: { type: "string" },
    "turbo-runs": { type: "string" },
    status: { type: "string" },
    workspace: { type: "string", default: "." },
  },
});
if (!values.reports || values.status === undefined) {
  console.error("usage: main.ts --reports DIR --status N [--turbo-runs DIR] [--workspace DIR]");
  process.exit(2);
}

const reports = new Map<string, SuiteReport | Error>();
for (const file of readdirSync(values.reports).filter((name) => name.endsWith(".json"))) {
  try {
    reports.set(file, JSON.parse(readFileSync(resolve(values.reports, file), "utf8")) as SuiteReport);
  } catch (error) {
    reports.set(file, error instanceof Error ? error : new Error(String(error)));
  }
}
const status = Number(values.status);
const summary = summarize({
  reports,
  expected: expectedSuites(resolve(values.workspace)),
  tasks: values["turbo-runs"] ? readTurboTasks(values["turbo-runs"]) : [],
  status,
});
console.log(formatSummary(summary, resolve(values.workspace)));
process.exit(status !== 0 ? status : summary.failed > 0 ? 1 : 0);
