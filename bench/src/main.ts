/**
 * `pnpm bench`: BENCH_PROFILE=quick|full (quick by default; smoke is the test suite's),
 * BENCH_ONLY=users,runtimes,fanout to run some groups, BENCH_RESULTS_DIR (bench/results).
 */
import { join } from "node:path";
import { GROUPS, runBench, type Group } from "./bench.js";
import { benchDir } from "./paths.js";
import { profileFrom } from "./profiles.js";

const profile = profileFrom(process.env.BENCH_PROFILE);
const only = process.env.BENCH_ONLY?.split(",")
  .map((g) => g.trim())
  .filter(Boolean);
for (const g of only ?? [])
  if (!GROUPS.includes(g as Group)) throw new Error(`BENCH_ONLY: unknown group "${g}" (${GROUPS.join(", ")})`);
await runBench({
  profile,
  groups: (only as Group[] | undefined) ?? GROUPS,
  outDir: process.env.BENCH_RESULTS_DIR ?? join(benchDir, "results"),
});
