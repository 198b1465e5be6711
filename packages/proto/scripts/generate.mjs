#!/usr/bin/env node
// Regenerates src/gen (the buf module in ../../proto) and src/gen-vendor (the standard gRPC APIs
// polyrpc implements itself, health and reflection, from the .proto files their pinned npm
// packages ship). Those files are staged under their canonical import paths in a scratch
// directory, never committed.
//
// The buf module imports buf/validate/validate.proto, which only the buf registry serves as a
// .proto file, so it is compiled into an image first (see proto-image.mjs) and `buf generate`
// runs on that image, limited to the module's own files.
//
//   node scripts/generate.mjs [--out <dir>]   (default: this package; tests pass a scratch dir)
import { cpSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { buf, buildImage, inScratch, packageDir, pathArgs } from "./proto-image.mjs";

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

inScratch("generate", (staging) => {
  const image = join(staging, "polyrpc.binpb");
  const files = buildImage({ out: image });
  buf("generate", image, "--template", "../../proto/buf.gen.yaml", "-o", out, ...pathArgs(files));

  for (const [importPath, packageName, file] of vendored) {
    const source = join(dirname(require.resolve(`${packageName}/package.json`)), file);
    cpSync(source, join(staging, "vendor", importPath));
  }
  buf("generate", join(staging, "vendor"), "--template", join(packageDir, "buf.gen.vendor.yaml"), "-o", out);
});
