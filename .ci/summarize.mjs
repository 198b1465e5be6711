// Adds up the vitest JSON reports in a directory and prints `N passed, M failed`. A failed run
// with no failing test (install, lint or typecheck broke) counts as one failure, so CI never
// reports a red run as all green. Each failed test is listed first, with the first lines of its
// failure, so the tail of a CI log says what broke. Exits with the run's status.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, statusArg] = process.argv.slice(2);
const status = Number(statusArg ?? 1);
let passed = 0;
let failed = 0;
const failures = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
  const report = JSON.parse(readFileSync(join(dir, file), "utf8"));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  // A test file that failed to load has no tests but is a failure all the same.
  for (const result of report.testResults) {
    const path = result.name.replace(process.cwd() + "/", "");
    if (result.status === "failed" && result.assertionResults.length === 0) {
      failed += 1;
      failures.push({ name: path, message: result.message ?? "" });
    }
    for (const assertion of result.assertionResults.filter((a) => a.status === "failed")) {
      failures.push({ name: `${path} > ${assertion.fullName}`, message: assertion.failureMessages.join("\n") });
    }
  }
}
for (const { name, message } of failures) {
  console.log(`FAILED ${name}`);
  for (const line of message.split("\n").slice(0, 8)) console.log(`    ${line}`);
}
if (status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(status);
