import { mergeConfig } from "vitest/config";
import { sharedVitestConfig } from "../../vitest.shared.js";

// One file at a time: each suite runs several app processes and Envoys on a small machine.
export default mergeConfig(sharedVitestConfig(import.meta.dirname), { test: { fileParallelism: false } });
