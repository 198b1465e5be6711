import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The bench package's directory. */
export const benchDir = join(repoRoot, "bench");

/** A tool from `.tools/bin` (where scripts/setup.sh puts it), else from PATH. */
export function tool(name: string): string {
  const local = join(repoRoot, ".tools/bin", name);
  return existsSync(local) ? local : name;
}
