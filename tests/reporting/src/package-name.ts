import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The `name` in a package directory's package.json. */
export function packageName(packageDir: string): string {
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { name?: string };
  if (!manifest.name) throw new Error(`${packageDir}/package.json has no name`);
  return manifest.name;
}
