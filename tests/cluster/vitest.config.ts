import { defineConfig, mergeConfig } from "vitest/config";
import { sharedVitestConfig } from "../../vitest.shared.js";

// One cluster for the whole suite (test/global-setup.ts builds the images and brings it up), and
// one release at a time on it: files run one after another.
export default mergeConfig(
  sharedVitestConfig(import.meta.dirname),
  defineConfig({
    test: {
      globalSetup: ["test/global-setup.ts"],
      fileParallelism: false,
      testTimeout: 10 * 60_000,
      hookTimeout: 20 * 60_000,
    },
  }),
);
