#!/usr/bin/env node
// Regenerates src/gen: the Go program in descriptors/ writes the FileDescriptorSet of grpc-go's
// compiled interop protos (grpc/testing/{empty,messages,test}.proto and their imports) to a
// scratch directory, and buf runs protoc-gen-es on it. No .proto text is involved or committed.
//
//   node scripts/generate.mjs [--out <dir>]   (default: this package; tests pass a scratch dir)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : packageDir;

const env = { ...process.env, PATH: `${join(packageDir, "node_modules/.bin")}:${process.env.PATH}` };
const staging = mkdtempSync(join(tmpdir(), "polyrpc-grpc-testing-"));
try {
  const set = join(staging, "grpc-testing.binpb");
  execFileSync("go", ["run", ".", set], { cwd: join(packageDir, "descriptors"), env, stdio: "inherit" });
  execFileSync("buf", ["generate", set, "--template", join(packageDir, "buf.gen.yaml"), "-o", out], {
    cwd: packageDir,
    env,
    stdio: "inherit",
  });
} finally {
  rmSync(staging, { recursive: true, force: true });
}
