// Compiles the workspace package in the current directory from src/ to dist/, file by file, with
// esbuild (no bundling: imports stay as they are, so each package resolves its own dependencies at
// run time exactly as declared). Tests (*.test.ts) are left out. Types are checked separately by
// `typecheck`; this only strips them, which the sources allow (isolatedModules,
// verbatimModuleSyntax). Usage, from a package's `build` script: node ../../scripts/build-package.mjs
import { globSync, rmSync } from "node:fs";
import { build } from "esbuild";

const entryPoints = globSync("src/**/*.ts").filter((file) => !file.endsWith(".test.ts") && !file.endsWith(".d.ts"));
rmSync("dist", { recursive: true, force: true });
await build({
  entryPoints,
  outdir: "dist",
  outbase: "src",
  format: "esm",
  platform: "node",
  target: "node24",
  sourcemap: "linked",
  logLevel: "warning",
});
