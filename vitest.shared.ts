import { basename } from "node:path";
import { defineConfig } from "vitest/config";

/**
 * The vitest settings every package shares. When POLYRPC_TEST_REPORT_DIR is set (CI does), each
 * package also writes a JSON report there, which .ci/run adds up into its closing line.
 */
export function sharedVitestConfig(packageDir: string) {
  const reportDir = process.env.POLYRPC_TEST_REPORT_DIR;
  // Workspace packages resolve to their TypeScript sources ("polyrpc-source" in their exports), as
  // tsconfig.base.json's customConditions do for the compiler; the rest are Vite's defaults.
  const conditions = ["polyrpc-source", "module", "node", "development|production"];
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ["polyrpc-source"] } },
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
