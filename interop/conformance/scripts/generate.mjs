#!/usr/bin/env node
// Regenerates src/gen from connectrpc's conformance protos: `go mod download` fetches (or finds in
// the module cache, checked against the Go checksum database) the connectrpc.com/conformance
// module at the version of connectconformance that scripts/setup.d/40-conformance.sh installs, and
// buf runs protoc-gen-es on the files the server under test needs (the service, the server
// start-up messages and their shared config types). No .proto text is copied into the repository.
//
//   node scripts/generate.mjs [--out <dir>]   (default: this package; tests pass a scratch dir)
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Keep in step with scripts/setup.d/40-conformance.sh. */
export const CONFORMANCE_MODULE = "connectrpc.com/conformance@v1.0.7";
const PROTO_FILES = ["config.proto", "server_compat.proto", "service.proto"].map(
  (name) => `connectrpc/conformance/v1/${name}`,
);

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : packageDir;

const env = { ...process.env, PATH: `${join(packageDir, "node_modules/.bin")}:${process.env.PATH}` };
const download = JSON.parse(
  execFileSync("go", ["mod", "download", "-json", CONFORMANCE_MODULE], { cwd: packageDir, env, encoding: "utf8" }),
);
if (!download.Dir) throw new Error(`go mod download ${CONFORMANCE_MODULE} gave no directory: ${download.Error ?? ""}`);
// The module's proto/ directory is a buf module of its own (its buf.yaml is one level up).
const protoDir = join(download.Dir, "proto");
const pathArgs = PROTO_FILES.flatMap((file) => ["--path", join(protoDir, file)]);
execFileSync("buf", ["generate", protoDir, ...pathArgs, "--template", join(packageDir, "buf.gen.yaml"), "-o", out], {
  cwd: packageDir,
  env,
  stdio: "inherit",
});
