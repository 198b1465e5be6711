import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { createTestCertificates } from "@polyrpc/testing";
import type { ServerName } from "./expectations.js";
import { CLIENTS, runCell, SERVERS, type CellResult, type Mode } from "./matrix.js";
import { buildGo, startServer, type RunningServer, type TlsFiles } from "./processes.js";

export interface MatrixRun {
  cells: CellResult[];
  startedAt: string;
  durationMs: number;
}

/**
 * Runs every client against every server, in plaintext and over TLS with a CA made for this run,
 * and writes the results as JSON to `outputFile`.
 */
export async function runMatrix(modes: readonly Mode[], outputFile: string): Promise<MatrixRun> {
  const started = Date.now();
  const pki = createTestCertificates();
  const go = await buildGo();
  const cells: CellResult[] = [];
  try {
    for (const mode of modes) {
      const tls: TlsFiles | undefined = mode === "tls" ? pki : undefined;
      const servers: RunningServer[] = [];
      try {
        for (const name of SERVERS) servers.push(await startServer(name, tls, go.server));
        for (const server of servers) {
          for (const client of CLIENTS) {
            cells.push(await runCell(mode, client, server.name as ServerName, server.address, tls, go.client));
          }
        }
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    }
  } finally {
    pki.remove();
  }
  const run = { cells, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started };
  mkdirSync(dirname(outputFile), { recursive: true });
  writeFileSync(outputFile, `${JSON.stringify(run, null, 2)}\n`);
  return run;
}
