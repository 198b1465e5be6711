#!/usr/bin/env node
// `buf lint` for the buf module (../../proto) with its buf.yaml. buf cannot compile the module
// from source here (its buf/validate import lives in the unreachable buf registry), so the lint
// runs on an image of it (see proto-image.mjs), limited to the module's own files. buf prints any
// finding as before: `user/user.proto:12:1:...`.
//
//   node scripts/buf-lint.mjs
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, moduleDir, packageDir, pathArgs } from "./proto-image.mjs";

const scratch = mkdtempSync(join(tmpdir(), "polyrpc-lint-"));
try {
  const image = join(scratch, "polyrpc.binpb");
  const files = buildImage({ out: image });
  execFileSync(
    join(packageDir, "node_modules/.bin/buf"),
    ["lint", image, "--config", join(moduleDir, "buf.yaml"), ...pathArgs(files)],
    { stdio: "inherit" },
  );
} catch (err) {
  // buf and protoc have printed their own errors; anything else has not.
  if (typeof err?.status !== "number") console.error(err instanceof Error ? err.message : err);
  process.exitCode = err?.status ?? 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
