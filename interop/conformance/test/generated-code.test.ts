import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { listFilesUnder as listFiles } from "@polyrpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("the generated connectrpc.conformance.v1 code", () => {
  const scratch = mkdtempSync(join(tmpdir(), "polyrpc-conformance-gen-"));
  beforeAll(() => {
    // `go mod download` and buf both run for real; a missing Go toolchain fails here, loudly.
    execFileSync(process.execPath, [join(packageDir, "scripts/generate.mjs"), "--out", scratch], { stdio: "pipe" });
  }, 180_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("is identical to a fresh `pnpm generate`", () => {
    const committedDir = join(packageDir, "src/gen");
    const freshDir = join(scratch, "src/gen");
    const committed = listFiles(committedDir);
    expect(committed, "run `pnpm generate` and commit the result").toEqual(listFiles(freshDir));
    for (const file of committed) {
      expect(
        readFileSync(join(committedDir, file), "utf8"),
        `src/gen/${file} is stale: run \`pnpm generate\` and commit the result`,
      ).toBe(readFileSync(join(freshDir, file), "utf8"));
    }
  });
});
