import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { judge, type ServerName } from "./expectations.js";
import { CHECKS, type Observation } from "./observation.js";
import { runExternalClient, type TlsFiles } from "./processes.js";
import { runTsChecks } from "./ts-checks.js";
import { connectDriver, grpcJsDriver } from "./ts-drivers.js";

export const CLIENTS = ["ts-grpc-js", "ts-connect", "go", "python"] as const;
export const SERVERS: readonly ServerName[] = ["polyrpc", "go", "python"];
export type ClientName = (typeof CLIENTS)[number];
export type Mode = "plaintext" | "tls";

export interface CellResult {
  mode: Mode;
  client: ClientName;
  server: ServerName;
  ok: boolean;
  failures: string[];
  observations: Observation[];
}

/** Runs one client's checks against one server and judges every observation. */
export async function runCell(
  mode: Mode,
  client: ClientName,
  server: ServerName,
  address: string,
  tls: TlsFiles | undefined,
  goClient: string,
): Promise<CellResult> {
  const prefix = `${client}-${mode}-${randomBytes(3).toString("hex")}`.replace(/[^a-z0-9-]/g, "");
  let observations: Observation[];
  if (client === "go" || client === "python") {
    observations = await runExternalClient(client, address, prefix, tls, goClient);
  } else {
    const target = { address, ca: tls ? readFileSync(tls.caCert) : undefined };
    const driver = client === "ts-grpc-js" ? grpcJsDriver(target) : connectDriver(target);
    try {
      observations = await runTsChecks(driver, prefix);
    } finally {
      driver.close();
    }
  }
  const createdId = String((observations.find((o) => o.check === "create")?.value as { id?: string } | null)?.id ?? "");
  const failures: string[] = [];
  const seen = observations.map((o) => o.check);
  if (JSON.stringify(seen) !== JSON.stringify(CHECKS)) {
    failures.push(`checks run: expected ${CHECKS.join(",")}, got ${seen.join(",")}`);
  }
  for (const observation of observations) {
    const wrong = judge(server, observation, { prefix, createdId });
    if (wrong) failures.push(wrong);
  }
  return { mode, client, server, ok: failures.length === 0, failures, observations };
}

/** The matrix as text tables, one per mode: clients down, servers across. */
export function formatMatrix(cells: readonly CellResult[]): string {
  const lines: string[] = [];
  for (const mode of ["plaintext", "tls"] as const) {
    const modeCells = cells.filter((c) => c.mode === mode);
    if (modeCells.length === 0) continue;
    lines.push(
      `${mode}:`,
      `| client \\ server | ${SERVERS.join(" | ")} |`,
      `|---|${SERVERS.map(() => "---").join("|")}|`,
    );
    for (const client of CLIENTS) {
      const row = SERVERS.map((server) => {
        const cell = modeCells.find((c) => c.client === client && c.server === server);
        if (!cell) return "-";
        return cell.ok ? `pass (${cell.observations.length})` : `FAIL (${cell.failures.length})`;
      });
      lines.push(`| ${client} | ${row.join(" | ")} |`);
    }
    lines.push("");
  }
  for (const cell of cells.filter((c) => !c.ok)) {
    lines.push(`${cell.mode} ${cell.client} -> ${cell.server}:`, ...cell.failures.map((f) => `  - ${f}`));
  }
  return lines.join("\n");
}
