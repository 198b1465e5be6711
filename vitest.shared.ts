import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { packageName } from "./tests/reporting/src/package-name.js";
import { currentScript, reportFileName } from "./tests/reporting/src/report-name.js";

/**
 * The vitest settings every package shares. When POLYRPC_TEST_REPORT_DIR is set (CI does), each
 * package also writes a JSON report there, named for the package and the script running it
 * (tests/reporting), which .ci/run adds up into its closing line.
 */
export function sharedVitestConfig(packageDir: string) {
  const reportDir = process.env.POLYRPC_TEST_REPORT_DIR;
  // Workspace packages resolve to their TypeScript sources ("polyrpc-source" in their exports), as
  // tsconfig.base.json's customConditions do for the compiler. Vitest also hands these conditions
  // to Node for the dependencies it leaves to Node, so "module" (bundlers' ESM builds, which Node
  // cannot always load) is not among them.
  const conditions = ["polyrpc-source", "node", "development|production"];
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      reporters: reportDir
        ? [
            "default",
            ["json", { outputFile: join(reportDir, reportFileName(packageName(packageDir), currentScript())) }],
          ]
        : ["default"],
    },
  });
}
