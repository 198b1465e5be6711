import { describe, expect, it } from "vitest";
import { USAGE } from "./cli-args.js";
import { runCaptured } from "../test/run-captured.js";

const run = (argv: string[]) => runCaptured(argv);

describe("runCli", () => {
  it("prints the usage on stdout and exits 0 for --help", async () => {
    expect(await run(["--help"])).toEqual({ code: 0, stdout: `${USAGE}\n`, stderr: "" });
  });

  it("exits 2 with the problem and the usage on stderr for bad usage, without calling anything", async () => {
    const result = await run(["get", "--page-size", "3"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`polyrpc: get does not take --page-size\n\n${USAGE}\n`);
  });

  it("exits 1 with UNAVAILABLE when nothing listens at the target", async () => {
    const result = await run(["--target", "127.0.0.1:1", "--timeout", "2000", "delete", "u-1"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: UNAVAILABLE: /);
  });

  it("reports errors as one JSON object with --json", async () => {
    const result = await run(["--json", "--target", "127.0.0.1:1", "--timeout", "2000", "delete", "u-1"]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: "UNAVAILABLE" } });
  });
});
