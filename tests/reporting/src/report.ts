import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { currentScript, reportFileName } from "./report-name.js";

/**
 * A suite's results, in the shape of vitest's JSON reporter (the fields the summary reads). The Go
 * and Python runners write the same shape, so one summary reads every language's results.
 */
export interface SuiteReport {
  /** False when the runner itself saw the run fail, even if no test did (vitest sets this). */
  success?: boolean;
  testResults: FileResult[];
}

/** One test file (vitest), Go package or Python module. */
export interface FileResult {
  name: string;
  /** "failed" when the file failed as a whole: it did not load, or a hook outside any test threw. */
  status: string;
  message?: string;
  assertionResults: TestResult[];
}

export type TestStatus = "passed" | "failed" | "skipped" | "pending" | "todo" | "disabled";

export interface TestResult {
  fullName: string;
  status: TestStatus;
  failureMessages?: string[];
}

/**
 * Writes the report of a package's current script (`npm_lifecycle_event`) into
 * POLYRPC_TEST_REPORT_DIR when that is set (CI sets it), and returns its path; otherwise does nothing.
 */
export function writeSuiteReport(packageName: string, report: SuiteReport, env = process.env): string | undefined {
  const dir = env.POLYRPC_TEST_REPORT_DIR;
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, reportFileName(packageName, currentScript(env)));
  writeFileSync(path, JSON.stringify(report));
  return path;
}
