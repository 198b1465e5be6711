import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { reportFileName } from "./report-name.js";

/** The scripts that run a package's suite; each one that a package has must leave a report. */
export const SUITE_SCRIPTS = ["test", "test:cluster"] as const;

/** A suite the workspace declares: a package and one of its suite scripts. */
export interface ExpectedSuite {
  packageName: string;
  script: string;
  /** The report file it must write (report-name.ts). */
  report: string;
}

/**
 * Every suite in the pnpm workspace at `root`: the packages its pnpm-workspace.yaml names (entries
 * of the form `dir`, `dir/*`), each with every suite script it has.
 */
export function expectedSuites(root: string): ExpectedSuite[] {
  const suites: ExpectedSuite[] = [];
  for (const dir of workspacePackageDirs(root)) {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      name: string;
      scripts?: Record<string, string>;
    };
    for (const script of SUITE_SCRIPTS) {
      if (manifest.scripts?.[script]) {
        suites.push({ packageName: manifest.name, script, report: reportFileName(manifest.name, script) });
      }
    }
  }
  return suites;
}

function workspacePackageDirs(root: string): string[] {
  const yaml = readFileSync(join(root, "pnpm-workspace.yaml"), "utf8");
  const section = yaml.split(/^packages:\s*$/m)[1]?.split(/^\S/m)[0] ?? "";
  const patterns = [...section.matchAll(/^\s+-\s+["']?([^"'\s#]+)["']?/gm)].map((match) => match[1]!);
  if (patterns.length === 0) throw new Error(`${root}/pnpm-workspace.yaml lists no packages`);
  return patterns.flatMap((pattern) => {
    if (pattern.endsWith("/*")) {
      const parent = join(root, pattern.slice(0, -2));
      if (!existsSync(parent)) return [];
      return readdirSync(parent, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(join(parent, entry.name, "package.json")))
        .map((entry) => join(parent, entry.name))
        .sort();
    }
    if (pattern.includes("*"))
      throw new Error(`pnpm-workspace.yaml pattern ${pattern} is not of the form dir or dir/*`);
    return existsSync(join(root, pattern, "package.json")) ? [join(root, pattern)] : [];
  });
}
