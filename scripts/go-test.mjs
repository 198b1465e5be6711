#!/usr/bin/env node
// Runs `go test ./...` in the current module. When POLYRPC_TEST_REPORT_DIR is set (CI), it also
// writes a report `go-test-<dir>.json` ({ numPassedTests, numFailedTests }) that .ci/summarize.mjs
// adds to its totals. Exits with go test's status.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const child = spawn("go", ["test", "-count=1", "-json", "./..."], { stdio: ["ignore", "pipe", "inherit"] });
let passed = 0;
let failed = 0;
let buffer = "";
child.stdout.on("data", (chunk) => {
  buffer += chunk;
  let newline;
  while ((newline = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, newline);
    buffer = buffer.slice(newline + 1);
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      process.stdout.write(`${line}\n`);
      continue;
    }
    if (event.Action === "output") process.stdout.write(event.Output);
    if (event.Test && event.Action === "pass") passed++;
    if (event.Test && event.Action === "fail") failed++;
  }
});
child.on("exit", (code) => {
  // A package that fails to build has no failing test; the run still counts as a failure.
  if (code !== 0 && failed === 0) failed = 1;
  console.log(`go test: ${passed} passed, ${failed} failed`);
  const dir = process.env.POLYRPC_TEST_REPORT_DIR;
  if (dir) {
    const name = `go-test-${basename(process.cwd())}.json`;
    writeFileSync(join(dir, name), JSON.stringify({ numPassedTests: passed, numFailedTests: failed, testResults: [] }));
  }
  process.exit(code ?? 1);
});
