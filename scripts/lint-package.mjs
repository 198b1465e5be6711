// The lint of a TypeScript workspace package (its `lint` script), run from the package's folder:
//   node ../../scripts/lint-package.mjs
// It checks the rules of the tree that the compiler cannot:
// - every package a file imports is declared in the package's package.json (or the root's);
// - only the runtime adapters (packages/server-kit/src/grpc-js, src/connect) and the client
//   package (packages/grpc-client) import @grpc/grpc-js or @connectrpc/connect-node in the
//   product code of packages/ and apps/; the kit's core imports neither, nor @connectrpc/connect;
// - an app imports no other app;
// - an app reads process.env in one module (its config module).
// Tests (test/, *.test.ts) may use any runtime directly. Exits 1 with every problem listed.
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative, sep } from "node:path";

const root = join(import.meta.dirname, "..");
const dir = process.cwd();
const where = relative(root, dir).split(sep).join("/");
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const declared = new Set(
  [pkg, rootPkg].flatMap((p) => [...Object.keys(p.dependencies ?? {}), ...Object.keys(p.devDependencies ?? {})]),
);
const builtins = new Set(builtinModules);

const RUNTIMES = ["@grpc/grpc-js", "@connectrpc/connect-node"];
const RUNTIME_HOMES = [
  "packages/server-kit/src/grpc-js/",
  "packages/server-kit/src/connect/",
  "packages/grpc-client/src/",
];
const KIT_CORE = "packages/server-kit/src/";
const APPS = ["@polyrpc/chat", "@polyrpc/user-service", "@polyrpc/client"];

/** The .ts files of the package, without dependencies, build output and generated code. */
function sources(folder) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      return ["node_modules", "dist", "gen", "testdata", ".venv", "results"].includes(entry.name) ? [] : sources(path);
    }
    return /\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The package name of a bare specifier: `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

const IMPORT =
  /(?:^|[^.\w])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[^.\w])import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm;

const problems = [];
const envReaders = [];
for (const file of sources(dir)) {
  const path = relative(root, file).split(sep).join("/");
  const inPackage = relative(dir, file).split(sep).join("/");
  const isTest = inPackage.startsWith("test/") || /\.test\.ts$/.test(file) || !/^(src|web)\//.test(inPackage);
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier.startsWith(".") || specifier.startsWith("node:") || builtins.has(specifier)) continue;
    const name = packageOf(specifier);
    if (name !== pkg.name && !declared.has(name))
      problems.push(`${path}: imports ${name}, which package.json does not declare`);
    if (isTest) continue;
    const product = where.startsWith("packages/") || where.startsWith("apps/");
    if (product && RUNTIMES.includes(name) && !RUNTIME_HOMES.some((home) => path.startsWith(home))) {
      problems.push(`${path}: imports ${name} outside the runtime adapters and the client package`);
    }
    const inKitCore = path.startsWith(KIT_CORE) && !RUNTIME_HOMES.some((home) => path.startsWith(home));
    if (inKitCore && (name.startsWith("@grpc/") || name.startsWith("@connectrpc/") || name === "grpc-health-check")) {
      problems.push(`${path}: the kit's core imports ${name}; runtime code belongs in src/grpc-js or src/connect`);
    }
    if (where.startsWith("apps/") && APPS.includes(name) && name !== pkg.name) {
      problems.push(`${path}: an app imports another app (${name}); share code through packages/`);
    }
  }
  if (!isTest && where.startsWith("apps/") && /\bprocess\.env\b/.test(text)) envReaders.push(path);
}
if (envReaders.length > 1) {
  problems.push(
    `${where}: process.env is read in ${envReaders.length} modules (${envReaders.join(", ")}); one config module reads it`,
  );
}

if (problems.length > 0) {
  console.error(`lint: ${problems.length} problem(s) in ${pkg.name}\n${problems.map((p) => `  ${p}`).join("\n")}`);
  process.exit(1);
}
