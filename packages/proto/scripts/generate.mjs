#!/usr/bin/env node
// Regenerates src/gen (the buf module in ../../proto) and src/gen-vendor (the standard gRPC APIs
// polyrpc implements itself, health and reflection, from the .proto files their pinned npm
// packages ship). Those files are staged under their canonical import paths in a scratch
// directory, never committed.
//
//   node scripts/generate.mjs [--out <dir>]   (default: this package; tests pass a scratch dir)
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : packageDir;
const require = createRequire(import.meta.url);

/** Third-party files: [canonical import path, npm package, file inside the package]. */
const vendored = [
  ["grpc/health/v1/health.proto", "grpc-health-check", "proto/health/v1/health.proto"],
  ["grpc/reflection/v1/reflection.proto", "@grpc/reflection", "build/proto/grpc/reflection/v1/reflection.proto"],
  [
    "grpc/reflection/v1alpha/reflection.proto",
    "@grpc/reflection",
    "build/proto/grpc/reflection/v1alpha/reflection.proto",
  ],
];

const env = { ...process.env, PATH: `${join(packageDir, "node_modules/.bin")}:${process.env.PATH}` };
const buf = (...args) => execFileSync("buf", args, { cwd: packageDir, env, stdio: "inherit" });

buf("generate", "../../proto", "--template", "../../proto/buf.gen.yaml", "-o", out);

const staging = mkdtempSync(join(tmpdir(), "polyrpc-vendor-"));
try {
  for (const [importPath, packageName, file] of vendored) {
    const source = join(dirname(require.resolve(`${packageName}/package.json`)), file);
    cpSync(source, join(staging, importPath));
  }
  buf("generate", staging, "--template", join(packageDir, "buf.gen.vendor.yaml"), "-o", out);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
