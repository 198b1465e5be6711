#!/usr/bin/env node
// `buf breaking` (the WIRE_JSON rules of ../../proto/buf.yaml) of the working tree's buf module
// against a git revision of it.
//
// Both sides are images built the same way (see proto-image.mjs): the revision's proto/ directory
// is extracted with `git archive` into a scratch directory and compiled against the same pinned
// import descriptors. (buf's own `.git#ref=...` input would compile the revision from source,
// which fails for every revision whose protos import buf/validate/validate.proto.) The imported
// files are identical on both sides, so only the module's own files can differ.
//
//   node scripts/buf-breaking.mjs [--against <git revision>]
//
// Without --against the base is `main` on a branch and the previous commit on `main`, so a
// breaking change fails the first run that contains it. When that base predates the module, the
// working tree is checked against HEAD instead; when HEAD predates it too, nothing can break. A
// base that is not in the clone (a shallow clone, a mistyped revision) fails the check: passing
// without comparing anything would hide the very change it is there to catch.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { buf, buildImage, inScratch, moduleDir, repoDir } from "./proto-image.mjs";

const git = (...args) =>
  execFileSync("git", args, { cwd: repoDir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
const tryGit = (...args) => {
  try {
    return git(...args);
  } catch {
    return "";
  }
};

const hasModule = (revision) => tryGit("cat-file", "-t", `${revision}:proto/buf.yaml`) === "blob";
const resolves = (revision) => tryGit("rev-parse", "--verify", "--quiet", `${revision}^{commit}`) !== "";

/** Exits with a failure when `revision` is not a commit in this clone, saying why. */
function requireRevision(revision) {
  if (resolves(revision)) return;
  const shallow = tryGit("rev-parse", "--is-shallow-repository") === "true";
  console.error(
    `buf breaking: cannot find ${revision} to compare against` +
      (shallow ? " (this is a shallow clone: run `git fetch --unshallow`)" : ""),
  );
  process.exit(1);
}

function defaultBase() {
  const head = tryGit("rev-parse", "HEAD");
  const main = tryGit("rev-parse", "--verify", "--quiet", "main");
  const base = main && main !== head ? "main" : "HEAD~1";
  requireRevision(base);
  return hasModule(base) ? base : "HEAD";
}

const againstIndex = process.argv.indexOf("--against");
const against = againstIndex > 0 ? process.argv[againstIndex + 1] : defaultBase();
if (!against) {
  console.error("usage: buf-breaking.mjs [--against <git revision>]");
  process.exit(2);
}
requireRevision(against);
if (!hasModule(against)) {
  console.log(`${against} has no buf module (proto/buf.yaml): nothing to break`);
  process.exit(0);
}

inScratch("breaking", (scratch) => {
  // Extract the revision's proto/ directory (the whole of it: its buf.yaml says what the module is).
  const base = join(scratch, "base");
  mkdirSync(base);
  const archive = execFileSync("git", ["archive", "--format=tar", against, "--", "proto"], {
    cwd: repoDir,
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", base], { input: archive });
  const current = join(scratch, "current.binpb");
  const previous = join(scratch, "against.binpb");
  buildImage({ out: current });
  buildImage({ root: join(base, "proto"), out: previous });
  buf("breaking", current, "--against", previous, "--config", join(moduleDir, "buf.yaml"));
});
