import type { FileResult, SuiteReport, TestResult, TestStatus } from "./report.js";

/** One line of `go test -json` (test2json's TestEvent, and `go build -json`'s build events). */
export interface GoTestEvent {
  Action: string;
  Package?: string;
  Test?: string;
  Output?: string;
  ImportPath?: string;
  FailedBuild?: string;
}

interface GoTest {
  status?: TestStatus;
  output: string[];
}

interface GoPackage {
  status?: "pass" | "fail" | "skip";
  tests: Map<string, GoTest>;
  output: string[];
  failedBuild?: string;
}

/**
 * Folds `go test -json` events into a suite report, one file result per Go package. Only leaf tests
 * count: `TestTable` with three `t.Run` subtests is three results, not four, and its verdict is
 * theirs. A package that fails with no failing test (it did not build, or TestMain or an init
 * panicked) is a failed file, which the summary counts as one failure.
 */
export class GoResults {
  private readonly packages = new Map<string, GoPackage>();
  private readonly buildOutput = new Map<string, string[]>();

  add(event: GoTestEvent): void {
    if (event.Action === "build-output" && event.ImportPath) {
      const lines = this.buildOutput.get(event.ImportPath) ?? [];
      lines.push(event.Output ?? "");
      this.buildOutput.set(event.ImportPath, lines);
      return;
    }
    if (!event.Package) return;
    const pkg = this.package(event.Package);
    if (!event.Test) {
      if (event.Action === "output") pkg.output.push(event.Output ?? "");
      if (event.Action === "pass" || event.Action === "fail" || event.Action === "skip") pkg.status = event.Action;
      if (event.FailedBuild) pkg.failedBuild = event.FailedBuild;
      return;
    }
    const test = pkg.tests.get(event.Test) ?? { output: [] };
    pkg.tests.set(event.Test, test);
    if (event.Action === "output") test.output.push(event.Output ?? "");
    if (event.Action === "pass") test.status = "passed";
    if (event.Action === "fail") test.status = "failed";
    if (event.Action === "skip") test.status = "skipped";
  }

  /** The report, given go test's exit code (non-zero with no failed package is itself a failure). */
  report(exitCode: number): SuiteReport {
    const testResults: FileResult[] = [...this.packages].map(([name, pkg]) => {
      const names = [...pkg.tests.keys()];
      const leaves = names.filter((test) => !names.some((other) => other.startsWith(`${test}/`)));
      const assertionResults: TestResult[] = leaves.map((test) => {
        const { status, output } = pkg.tests.get(test)!;
        // A test with no verdict was running when the binary died (panic, timeout): it failed.
        const verdict = status ?? "failed";
        return { fullName: test, status: verdict, failureMessages: verdict === "passed" ? [] : [output.join("")] };
      });
      const build = pkg.failedBuild ? (this.buildOutput.get(pkg.failedBuild) ?? []) : [];
      return {
        name,
        status: pkg.status === "fail" ? "failed" : "passed",
        message: pkg.status === "fail" ? [...build, ...pkg.output].join("") : "",
        assertionResults,
      };
    });
    if (exitCode !== 0 && !testResults.some((file) => file.status === "failed")) {
      const orphanBuilds = [...this.buildOutput.values()].flat().join("");
      testResults.push({
        name: "go test",
        status: "failed",
        message: `go test exited ${exitCode}\n${orphanBuilds}`,
        assertionResults: [],
      });
    }
    return { success: exitCode === 0, testResults };
  }

  private package(name: string): GoPackage {
    let pkg = this.packages.get(name);
    if (!pkg) {
      pkg = { tests: new Map(), output: [] };
      this.packages.set(name, pkg);
    }
    return pkg;
  }
}
