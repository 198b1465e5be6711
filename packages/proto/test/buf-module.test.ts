import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buf, git, moduleDir, packageDir } from "./buf-tool.js";

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
    const res = buf(["lint"], moduleDir);
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
    // fails the first run that contains it. A revision that predates the module has nothing to break.
    const head = git(["rev-parse", "HEAD"]).output.trim();
    const main = git(["rev-parse", "--verify", "--quiet", "main"]).output.trim();
    const base = main && main !== head ? "main" : "HEAD~1";
    const hasModule = git(["cat-file", "-e", `${base}:proto/buf.yaml`]).code === 0;
    const against = hasModule ? base : "HEAD";
    const res = buf(["breaking", ".", "--against", `../.git#ref=${against},subdir=proto`], moduleDir);
    expect(res.output).toBe("");
    expect(res.code).toBe(0);
  });
});
