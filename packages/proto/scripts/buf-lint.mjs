#!/usr/bin/env node
// `buf lint` for the buf module (../../proto) with its buf.yaml. buf cannot compile the module
// from source here (its buf/validate import lives in the unreachable buf registry), so the lint
// runs on an image of it (see proto-image.mjs), limited to the module's own files. buf prints any
// finding as before: `user/user.proto:12:1:...`.
//
//   node scripts/buf-lint.mjs
import { join } from "node:path";
import { buf, buildImage, inScratch, moduleDir, pathArgs } from "./proto-image.mjs";

inScratch("lint", (scratch) => {
  const image = join(scratch, "polyrpc.binpb");
  const files = buildImage({ out: image });
  buf("lint", image, "--config", join(moduleDir, "buf.yaml"), ...pathArgs(files));
});
