import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENTS, formatMatrix, SERVERS, type Mode } from "../src/matrix.js";
import { runMatrix, type MatrixRun } from "../src/run-matrix.js";

const outputFile = join(import.meta.dirname, "../results/matrix.json");
const modes: Mode[] = ["plaintext", "tls"];

describe("the interop matrix", () => {
  let run: MatrixRun;
  beforeAll(async () => {
    run = await runMatrix(modes, outputFile);
  }, 600_000);
  afterAll(() => {
    if (run) console.log(formatMatrix(run.cells));
  });

  for (const mode of modes) {
    for (const client of CLIENTS) {
      for (const server of SERVERS) {
        it(`${client} client -> ${server} server (${mode})`, () => {
          const cell = run.cells.find((c) => c.mode === mode && c.client === client && c.server === server);
          expect(cell, "the cell did not run").toBeDefined();
          expect(cell!.failures).toEqual([]);
          expect(cell!.ok).toBe(true);
        });
      }
    }
  }

  it("writes every cell, with its observations, as JSON", () => {
    expect(existsSync(outputFile)).toBe(true);
    const written = JSON.parse(readFileSync(outputFile, "utf8")) as MatrixRun;
    expect(written.cells).toHaveLength(modes.length * CLIENTS.length * SERVERS.length);
    expect(written.cells.every((c) => c.observations.length === 13)).toBe(true);
  });
});
