#!/usr/bin/env node
// Compiles .proto files into an image (a FileDescriptorSet with source info and every import) that
// `buf generate`, `buf lint` and `buf breaking` take as input. Every other buf and protoc step of
// the repository starts from one of these images.
//
// Why not `buf build`: the protos import buf/validate/validate.proto, which buf would fetch from
// its registry (unreachable here), and no .proto text of a third party is committed. The pinned
// npm packages carry the descriptors instead: @bufbuild/protovalidate embeds validate.proto's
// (the generated `buf/validate/validate_pb`), @bufbuild/protobuf those of the well-known types.
// They are written to a scratch FileDescriptorSet, and protoc (grpcio-tools' protoc, from the
// Python venv `bash scripts/setup.sh` makes) compiles our files against it with
// `--descriptor_set_in`. The bundled include directory of grpcio-tools is deliberately left out,
// so every import resolves to the same pinned npm descriptors on every machine.
//
// The image also holds the imported files (validate.proto, descriptor.proto, ...). A protoc-built
// image does not mark them as imports the way `buf build` does, so buf commands on it name their
// targets with `--path` (see `pathArgs`).
//
//   node scripts/proto-image.mjs [--root <dir>] -o <image.binpb> [file.proto ...]
//
// --root is the include root (default: the buf module, ../../proto); the files are relative to it
// and default to every .proto file under it. It prints nothing on success.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import * as wkt from "@bufbuild/protobuf/wkt";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";

export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repoDir = resolve(packageDir, "../..");
/** The buf module: the repository's proto/ directory. */
export const moduleDir = join(repoDir, "proto");
const python = join(repoDir, "interop/python/.venv/bin/python");

/** The files protoc may import without their source: validate.proto and the well-known types. */
function importableFiles() {
  const roots = [file_buf_validate_validate, ...Object.values(wkt).filter((v) => v?.kind === "file")];
  const ordered = [];
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file.proto);
  };
  roots.forEach(visit);
  return ordered;
}

/** Every .proto file under `root`, relative to it with `/` separators, sorted. */
export function protoFilesUnder(root) {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".proto")) files.push(relative(root, path).split(sep).join("/"));
    }
  };
  walk(root);
  return files.sort();
}

/** `--path` arguments that limit a buf command on an image to `files` (its imports aside). */
export function pathArgs(files) {
  return files.flatMap((file) => ["--path", file]);
}

/**
 * Compiles `files` (relative to `root`; default: all of them) into the image `out` and returns
 * the files, the targets that buf commands should be limited to with `pathArgs`.
 */
export function buildImage({ root = moduleDir, files = protoFilesUnder(root), out }) {
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run \`bash scripts/setup.sh\` from the repository root`);
  }
  const scratch = mkdtempSync(join(tmpdir(), "polyrpc-imports-"));
  try {
    const imports = join(scratch, "imports.binpb");
    writeFileSync(
      imports,
      toBinary(wkt.FileDescriptorSetSchema, create(wkt.FileDescriptorSetSchema, { file: importableFiles() })),
    );
    // `python -m grpc_tools.protoc` would append grpcio-tools' bundled include directory; calling
    // protoc.main directly keeps the imports to the set above.
    const protoc = "import sys; from grpc_tools import protoc; sys.exit(protoc.main(sys.argv))";
    execFileSync(
      python,
      [
        "-c",
        protoc,
        `--descriptor_set_in=${imports}`,
        `--proto_path=${root}`,
        "--include_imports",
        "--include_source_info",
        `--descriptor_set_out=${out}`,
        ...files,
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name) => {
    const index = args.indexOf(name);
    if (index < 0) return undefined;
    const [, value] = args.splice(index, 2);
    if (value === undefined) throw new Error(`${name} needs a value`);
    return value;
  };
  const root = resolve(option("--root") ?? moduleDir);
  const out = option("-o");
  if (!out) {
    console.error("usage: proto-image.mjs [--root <dir>] -o <image.binpb> [file.proto ...]");
    process.exit(2);
  }
  try {
    buildImage({ root, files: args.length > 0 ? args : undefined, out: resolve(out) });
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}

/** Runs the pinned buf from this package, with its protoc-gen-es on the PATH. */
export function buf(...args) {
  const env = { ...process.env, PATH: `${join(packageDir, "node_modules/.bin")}:${process.env.PATH}` };
  execFileSync(join(packageDir, "node_modules/.bin/buf"), args, { cwd: packageDir, env, stdio: "inherit" });
}

/**
 * Runs `work(dir)` in a scratch directory that is removed afterwards. A failure becomes the
 * script's exit status; buf and protoc print their own errors, anything else is printed here.
 */
export function inScratch(prefix, work) {
  const dir = mkdtempSync(join(tmpdir(), `polyrpc-${prefix}-`));
  try {
    work(dir);
  } catch (err) {
    if (typeof err?.status !== "number") console.error(err instanceof Error ? err.message : err);
    process.exitCode = err?.status ?? 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
