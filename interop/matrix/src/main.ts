// `pnpm --filter @polyrpc/interop-matrix matrix [--plaintext-only]`: runs the interop matrix,
// prints it as tables, writes results/matrix.json, and exits 1 if any cell failed.
import { join } from "node:path";
import { formatMatrix } from "./matrix.js";
import { runMatrix } from "./run-matrix.js";

const outputFile = join(import.meta.dirname, "../results/matrix.json");
const modes = process.argv.includes("--plaintext-only") ? (["plaintext"] as const) : (["plaintext", "tls"] as const);
const run = await runMatrix(modes, outputFile);
console.log(formatMatrix(run.cells));
console.log(`\n${run.cells.filter((c) => c.ok).length}/${run.cells.length} cells passed; results in ${outputFile}`);
process.exit(run.cells.every((c) => c.ok) ? 0 : 1);
