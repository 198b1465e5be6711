import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { listeningPort, loggedPort, startServiceProcess } from "@polyrpc/testing";
import type { ServerName } from "./expectations.js";
import type { Observation } from "./observation.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const goDir = join(repoRoot, "interop/go");
const pythonDir = join(repoRoot, "interop/python");
const python = join(pythonDir, ".venv/bin/python");
const run = promisify(execFile);

/** TLS files of a test PKI, when the run is over TLS. */
export interface TlsFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
}

export interface RunningServer {
  name: ServerName;
  address: string;
  stop(): Promise<void>;
}

/** Builds the Go server and client once per run (go's build cache makes it quick after the first). */
export async function buildGo(): Promise<{ server: string; client: string }> {
  const out = mkdtempSync(join(tmpdir(), "polyrpc-go-"));
  const server = join(out, "server");
  const client = join(out, "client");
  await run("go", ["build", "-o", server, "./cmd/server"], { cwd: goDir });
  await run("go", ["build", "-o", client, "./cmd/client"], { cwd: goDir });
  return { server, client };
}

/** Starts a server process and resolves once it reports its port on stdout. */
async function startProcess(
  name: ServerName,
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
  portOf: (line: Record<string, unknown>) => number | undefined,
): Promise<RunningServer> {
  const service = await startServiceProcess({
    name: `${name} server`,
    command,
    args,
    cwd: options.cwd,
    env: options.env,
    portOf,
    timeoutMs: 60_000,
  });
  return { name, address: service.target, stop: async () => void (await service.stop()) };
}

/** polyrpc's user service as the matrix runs it: loopback, a free port, SQLite in memory, auth off. */
export const POLYRPC_USER_SERVICE_ENV: Readonly<Record<string, string>> = {
  HOST: "127.0.0.1",
  PORT: "0",
  DATABASE_PATH: ":memory:",
  PASSWORD_HASH_COST: "1024",
  POLYRPC_ENV: "development",
  METRICS_ENABLED: "false",
  LOG_LEVEL: "info",
};

export function startServer(name: ServerName, tls: TlsFiles | undefined, goServer: string): Promise<RunningServer> {
  const tlsArgs = tls ? ["--tls-cert", tls.serverCert, "--tls-key", tls.serverKey] : [];
  switch (name) {
    case "polyrpc": {
      const dir = join(repoRoot, "apps/user-service");
      return startProcess(
        name,
        process.execPath,
        ["--conditions=polyrpc-source", "--import", "tsx", join(import.meta.dirname, "polyrpc-user-service.ts")],
        {
          cwd: dir,
          env: {
            ...POLYRPC_USER_SERVICE_ENV,
            ...(tls ? { TLS_CERT_FILE: tls.serverCert, TLS_KEY_FILE: tls.serverKey } : {}),
          },
        },
        loggedPort("gRPC server listening"),
      );
    }
    case "go":
      return startProcess(name, goServer, ["--port", "0", ...tlsArgs], { cwd: goDir }, listeningPort);
    case "python":
      return startProcess(name, python, ["server.py", "--port", "0", ...tlsArgs], { cwd: pythonDir }, listeningPort);
  }
}

/** Runs the Go or Python client's `--matrix` mode and returns its observations. */
export async function runExternalClient(
  client: "go" | "python",
  address: string,
  prefix: string,
  tls: TlsFiles | undefined,
  goClient: string,
): Promise<Observation[]> {
  const args = ["--matrix", "--prefix", prefix, "--target", address];
  if (tls) args.push("--tls", "--ca", tls.caCert, "--server-name", "localhost");
  const [command, argv, cwd] = client === "go" ? [goClient, args, goDir] : [python, ["client.py", ...args], pythonDir];
  const { stdout } = await run(command, argv, { cwd, timeout: 60_000 });
  return (JSON.parse(stdout) as { observations: Observation[] }).observations;
}
