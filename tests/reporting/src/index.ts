export { GoResults, type GoTestEvent } from "./go-results.js";
export { packageName } from "./package-name.js";
export { writeSuiteReport, type FileResult, type SuiteReport, type TestResult, type TestStatus } from "./report.js";
export { currentScript, reportFileName } from "./report-name.js";
export { formatSummary, summarize, type Problem, type ProblemKind, type Summary } from "./summarize.js";
export { readTurboTasks, type TurboTask } from "./turbo-runs.js";
export { expectedSuites, SUITE_SCRIPTS, type ExpectedSuite } from "./workspace-suites.js";
