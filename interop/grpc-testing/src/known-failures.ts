import type { InteropCase } from "./interop-cases.js";
import type { Runtime } from "./test-server.js";

/** A case that fails on a runtime today, and why. The interop test asserts it still fails. */
export interface KnownFailure {
  runtime: Runtime;
  testCase: InteropCase;
  reason: string;
}

/** Every known failure; keep the README's list in step. */
export const KNOWN_FAILURES: readonly KnownFailure[] = [];

export function knownFailure(runtime: Runtime, testCase: InteropCase): KnownFailure | undefined {
  return KNOWN_FAILURES.find((f) => f.runtime === runtime && f.testCase === testCase);
}
