import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buf, moduleDir, packageDir, repoDir, script } from "./buf-tool.js";

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe("the buf module", () => {
  const scratch = mkdtempSync(join(tmpdir(), "polyrpc-gen-"));
  beforeAll(() => {
    execFileSync(process.execPath, [join(packageDir, "scripts/generate.mjs"), "--out", scratch], { stdio: "pipe" });
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("passes buf lint with only the documented exceptions", () => {
    // On an image of the module (its buf/validate import cannot be fetched from the registry);
    // STANDARD includes PROTOVALIDATE, so this also checks that every validation rule is valid.
    const res = script("buf-lint.mjs");
    expect(res.output).toBe("");
    expect(res.code).toBe(0);
  });

  it("is formatted as buf format would write it", () => {
    const res = buf(["format", "--diff", "--exit-code"], moduleDir);
    expect(res.output).toBe("");
    expect(res.code).toBe(0);
  });

  it.each(["src/gen", "src/gen-vendor"])("has committed %s identical to a fresh `pnpm generate`", (dir) => {
    const committedDir = join(packageDir, dir);
    const freshDir = join(scratch, dir);
    const committed = listFiles(committedDir);
    expect(committed, "run `pnpm generate` and commit the result").toEqual(listFiles(freshDir));
    for (const file of committed) {
      expect(
        readFileSync(join(committedDir, file), "utf8"),
        `${dir}/${file} is stale: run \`pnpm generate\` and commit the result`,
      ).toBe(readFileSync(join(freshDir, file), "utf8"));
    }
  });

  it("has no wire or JSON breaking change against the base revision", () => {
    // On a branch the base is main; on main itself it is the previous commit, so a breaking change
    // fails the first run that contains it. Both sides are images built the same way, so a base
    // whose protos import buf/validate works too (see scripts/buf-breaking.mjs).
    const res = script("buf-breaking.mjs");
    expect(res.output).toMatch(/^(.* nothing to break\n)?$/);
    expect(res.code).toBe(0);
  });

  it("fails, rather than compare nothing, when the revision to compare against is not there", () => {
    const res = script("buf-breaking.mjs", ["--against", "no-such-revision"]);
    expect(res.output).toContain("cannot find no-such-revision to compare against");
    expect(res.code).toBe(1);
  });

  it("fails in a shallow clone, whose previous commit is missing, and says how to fetch it", () => {
    const clone = mkdtempSync(join(tmpdir(), "polyrpc-shallow-"));
    try {
      execFileSync("git", ["clone", "-q", "--depth", "1", `file://${repoDir}`, clone], { stdio: "pipe" });
      // The script's own checkout, with the shallow clone's history standing in for its own.
      const res = script("buf-breaking.mjs", [], { GIT_DIR: join(clone, ".git") });
      expect(res.output).toContain("cannot find HEAD~1 to compare against (this is a shallow clone");
      expect(res.code).toBe(1);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });
});
