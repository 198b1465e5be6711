import { mergeConfig } from "vitest/config";
import { sharedVitestConfig } from "../../vitest.shared.js";

export default mergeConfig(sharedVitestConfig(import.meta.dirname), {
  // A real PostgreSQL server for the suites that run against it as well as SQLite.
  test: { globalSetup: ["./test/global-setup.ts"] },
});
