import { basename } from "node:path";
import { defineConfig } from "vitest/config";

/**
 * The vitest settings every package shares. When POLYRPC_TEST_REPORT_DIR is set (CI does), each
 * package also writes a JSON report there, which .ci/run adds up into its closing line.
 */
export function sharedVitestConfig(packageDir: string) {
  const reportDir = process.env.POLYRPC_TEST_REPORT_DIR;
  return defineConfig({
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      reporters: reportDir
        ? ["default", ["json", { outputFile: `${reportDir}/${basename(packageDir)}.json` }]]
        : ["default"],
    },
  });
}
