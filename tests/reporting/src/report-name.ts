/**
 * The file a suite writes its report to, in the directory CI names in POLYRPC_TEST_REPORT_DIR: one
 * per package and script, so two packages with the same directory name, or one package with both
 * `test` and `test:cluster`, never overwrite each other's results, and the summary can tell which
 * expected report is missing. interop/python/run_tests.py spells the same rule in Python.
 *
 *   reportFileName("@polyrpc/chat", "test")                  → "polyrpc-chat.test.json"
 *   reportFileName("@polyrpc/tests-cluster", "test:cluster") → "polyrpc-tests-cluster.test-cluster.json"
 */
export function reportFileName(packageName: string, script: string): string {
  const safe = (part: string) => part.replace(/^@/, "").replace(/[^A-Za-z0-9._-]/g, "-");
  return `${safe(packageName)}.${safe(script)}.json`;
}

/** The script pnpm is running (`npm_lifecycle_event`), or `test` when a runner is started by hand. */
export function currentScript(env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_lifecycle_event || "test";
}
