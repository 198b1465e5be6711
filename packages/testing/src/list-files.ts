import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/** Every file below `dir`, as sorted paths relative to it: for comparing generated trees. */
export function listFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}
