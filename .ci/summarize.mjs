// Adds up the vitest JSON reports in a directory and prints `N passed, M failed`. A failed run
// with no failing test (install, lint or typecheck broke) counts as one failure, so CI never
// reports a red run as all green. Exits with the run's status.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, statusArg] = process.argv.slice(2);
const status = Number(statusArg ?? 1);
let passed = 0;
let failed = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
  const report = JSON.parse(readFileSync(join(dir, file), "utf8"));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  // A test file that failed to load has no tests but is a failure all the same.
  failed += report.testResults.filter((r) => r.status === "failed" && r.assertionResults.length === 0).length;
}
if (status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(status);
