/**
 * Runs `go test ./...` in the current directory's Go module, printing its output as it goes. With
 * POLYRPC_TEST_REPORT_DIR set (CI), it also writes the package's suite report (see go-results.ts
 * for what counts). Exits with go test's status.
 *
 *   node --import tsx <path>/tests/reporting/src/go-test.ts   (a package's `test` script)
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { GoResults, type GoTestEvent } from "./go-results.js";
import { packageName } from "./package-name.js";
import { writeSuiteReport } from "./report.js";

const results = new GoResults();
const child = spawn("go", ["test", "-count=1", "-json", "./..."], { stdio: ["ignore", "pipe", "inherit"] });
const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
for await (const line of createInterface({ input: child.stdout })) {
  let event: GoTestEvent;
  try {
    event = JSON.parse(line) as GoTestEvent;
  } catch {
    process.stdout.write(`${line}\n`);
    continue;
  }
  results.add(event);
  if (event.Action === "output" || event.Action === "build-output") process.stdout.write(event.Output ?? "");
}
const exitCode = await exited;
const report = results.report(exitCode);
const leaves = report.testResults.flatMap((file) => file.assertionResults);
const passed = leaves.filter((test) => test.status === "passed").length;
console.log(`go test: ${passed} passed, ${leaves.length - passed} not passed`);
writeSuiteReport(packageName(process.cwd()), report);
process.exit(exitCode);
