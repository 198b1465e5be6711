import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isoTime } from "../src/logger.js";
import { startCommand, type CommandRun } from "@polyrpc/testing";

const CHILD = join(import.meta.dirname, "logger-child.ts");

function startChild(scenario: string, ...args: string[]) {
  return startCommand(process.execPath, ["--conditions=polyrpc-source", "--import", "tsx", CHILD, scenario, ...args], {
    cwd: join(import.meta.dirname, ".."),
    timeoutMs: 30_000,
  });
}

/** The parsed stdout lines of a finished child, and the number of writes it made to stdout. */
function parse(run: CommandRun) {
  const lines = run.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const { writes, maxGapMs } = JSON.parse(run.stderr.trim().split("\n")[0]!) as { writes: number; maxGapMs: number };
  return { lines, writes, maxGapMs };
}

/** Every numbered line 0..n-1, once and in order. */
function expectAllLines(lines: Record<string, unknown>[], n: number) {
  const numbered = lines.filter((line) => typeof line.i === "number").map((line) => line.i);
  expect(numbered).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe("createLogger's stdout", () => {
  it("shows a quiet process's line within the flush interval, while it runs", async () => {
    const child = startChild("quiet");
    try {
      await child.waitFor('"msg":"ready"', 10_000);
      const ready = JSON.parse(child.stdout().trim()) as { at: number; time: string };
      // Written at most ~100 ms after it was logged (allow for a loaded machine).
      expect(Date.now() - ready.at).toBeLessThan(2_000);
    } finally {
      child.child.kill("SIGKILL");
    }
  });

  it("writes lines in chunks, not one write per line", async () => {
    const { lines, writes } = parse(await startChild("calls", "2000").finished);
    expectAllLines(lines, 2_000);
    // ~150-byte lines in chunks of about 3.5 KiB.
    expect(writes).toBeLessThan(200);
  });

  it("keeps serving while stdout's reader falls behind (EAGAIN), and loses no line", async () => {
    const child = startChild("calls", "20000", "after-input");
    await child.waitFor('"msg":"ready"');
    // Read nothing for a while: the pipe fills up while the child goes on logging.
    child.child.stdout!.pause();
    child.write("go\n");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    child.child.stdout!.resume();
    const { lines, maxGapMs } = parse(await child.finished);
    expectAllLines(lines, 20_000);
    // sonic-boom's own retry would sleep on the event loop until the reader is back (1.5 s).
    expect(maxGapMs).toBeLessThan(500);
  });

  it("loses no line on process.exit()", async () => {
    const run = await startChild("exit", "5000").finished;
    expect(run.code).toBe(0);
    expectAllLines(parse(run).lines, 5_000);
  });

  it("loses no line when the process dies of an uncaught exception", async () => {
    const run = await startChild("throw", "5000").finished;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Error: fatal");
    expectAllLines(parse(run).lines, 5_000);
  });

  it("loses no line logged during a SIGTERM shutdown (exitOnSignals)", async () => {
    const child = startChild("sigterm", "5000");
    await child.waitFor('"msg":"ready"', 10_000);
    child.child.kill("SIGTERM");
    const run = await child.finished;
    expect(run.code).toBe(0);
    const { lines } = parse(run);
    expect(lines.map((line) => line.msg)).toContain("signal received");
    expectAllLines(lines, 5_000);
  });

  it("keeps the order of lines of two loggers in one process", async () => {
    const { lines } = parse(await startChild("two-loggers", "2000").finished);
    expectAllLines(lines, 2_000);
    expect(lines.slice(0, 2).map((line) => line.service)).toEqual(["logger-child", "logger-child-2"]);
  });
});

describe("isoTime", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes the time field exactly as pino's isoTime does", () => {
    const now = vi.spyOn(Date, "now");
    const start = Date.UTC(2025, 11, 31, 23, 59, 58, 990);
    for (const t of [
      start,
      start + 1,
      start + 9,
      start + 10,
      start + 1_009,
      start + 1_010,
      0,
      1_000,
      999,
      86_399_999,
    ]) {
      now.mockReturnValue(t);
      expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
    }
    for (let i = 0; i < 2_000; i++) {
      now.mockReturnValue(start + Math.floor(Math.random() * 5_000_000_000));
      expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
    }
  });
});
