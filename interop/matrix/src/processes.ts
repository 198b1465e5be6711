import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
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

/** Starts a process and resolves with the port it reports on stdout. */
function startProcess(
  name: ServerName,
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
  portOf: (line: string) => number | undefined,
): Promise<RunningServer> {
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} server did not report its port in 60 s:\n${output}`));
    }, 60_000);
    void exited.then(() => reject(new Error(`${name} server exited early:\n${output}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output += `${line}\n`;
      const port = portOf(line);
      if (port === undefined) return;
      clearTimeout(timer);
      resolvePort({
        name,
        address: `127.0.0.1:${port}`,
        async stop() {
          if (child.exitCode === null) child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
  });
}

function jsonField(line: string, field: string, msg?: string): number | undefined {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (msg !== undefined && entry.msg !== msg) return undefined;
    return typeof entry[field] === "number" ? (entry[field] as number) : undefined;
  } catch {
    return undefined;
  }
}

export function startServer(name: ServerName, tls: TlsFiles | undefined, goServer: string): Promise<RunningServer> {
  const tlsArgs = tls ? ["--tls-cert", tls.serverCert, "--tls-key", tls.serverKey] : [];
  switch (name) {
    case "polyrpc": {
      const dir = join(repoRoot, "apps/user-service");
      return startProcess(
        name,
        process.execPath,
        ["--import", "tsx", join(dir, "src/main.ts")],
        {
          cwd: dir,
          env: {
            HOST: "127.0.0.1",
            PORT: "0",
            DATABASE_PATH: ":memory:",
            PASSWORD_HASH_COST: "1024",
            POLYRPC_ENV: "development",
            METRICS_ENABLED: "false",
            ECHO_TEST_METADATA: "true",
            LOG_LEVEL: "info",
            ...(tls ? { TLS_CERT_FILE: tls.serverCert, TLS_KEY_FILE: tls.serverKey } : {}),
          },
        },
        (line) => jsonField(line, "port", "gRPC server listening"),
      );
    }
    case "go":
      return startProcess(name, goServer, ["--port", "0", ...tlsArgs], { cwd: goDir }, (line) =>
        jsonField(line, "listening"),
      );
    case "python":
      return startProcess(name, python, ["server.py", "--port", "0", ...tlsArgs], { cwd: pythonDir }, (line) =>
        jsonField(line, "listening"),
      );
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
