import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);

/** A workspace package's directory and the absolute path of one of its `bin` entries. */
function packageBin(name: string, bin: string): { dir: string; path: string } {
  // The devDependencies on these packages exist so that pnpm links them here and turbo orders
  // them; the tests only run their declared bins as processes, never import their code.
  const manifestPath = require.resolve(`${name}/package.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { bin?: Record<string, string> };
  const relative = manifest.bin?.[bin];
  if (!relative) throw new Error(`${name} declares no bin "${bin}"`);
  const dir = dirname(manifestPath);
  return { dir, path: join(dir, relative) };
}

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** Every child these helpers started and that may still run, for `killAll`. */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** SIGKILLs every child process still running; for afterAll. */
export function killAll(): void {
  for (const child of children) child.kill("SIGKILL");
}

/** A user service process. */
export interface UserServiceProcess {
  child: ChildProcess;
  port: number;
  target: string;
  exited: Promise<Exit>;
  /** Everything it printed so far (its JSON log lines), for assertion messages. */
  output(): string;
}

/**
 * Starts apps/user-service as a process (`node --import tsx`, from the package directory so that
 * its own tsx resolves) on a free port and resolves once it logs the port it listens on.
 */
export async function startUserService(env: Record<string, string>, timeoutMs = 30_000): Promise<UserServiceProcess> {
  const { dir, path } = packageBin("@polyrpc/user-service", "polyrpc-user-service");
  const child = track(
    spawn(process.execPath, ["--import", "tsx", path], {
      cwd: dir,
      env: { ...process.env, HOST: "127.0.0.1", PORT: "0", PASSWORD_HASH_COST: "1024", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const exited = exitOf(child);
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`user service did not report its port within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    exited.then((exit) => reject(new Error(`user service exited early (${JSON.stringify(exit)}):\n${output}`)), reject);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output += `${line}\n`;
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "gRPC server listening" && typeof entry.port === "number") {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // Not a log line; keep it in the output for diagnostics.
      }
    });
  });
  return { child, port, target: `127.0.0.1:${port}`, exited, output: () => output };
}

/** What a CLI run printed and how it exited. */
export interface CliRun extends Exit {
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (for `--json` runs). */
  json(): Array<Record<string, unknown>>;
}

/** Runs apps/client's `polyrpc` CLI as a process with `args`, optionally feeding `stdin`. */
export async function runCli(
  target: string,
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const { dir, path } = packageBin("@polyrpc/client", "polyrpc");
  const child = track(
    spawn(process.execPath, ["--import", "tsx", path, ...args], {
      cwd: dir,
      env: { ...process.env, POLYRPC_TARGET: target },
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  const exited = exitOf(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.end(options.stdin ?? "");
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = await exited.finally(() => clearTimeout(timer));
  // 'exit' can come before the pipes are drained; wait for them to close.
  await Promise.all(
    [child.stdout, child.stderr].map((s) => (s!.closed ? undefined : new Promise((r) => s!.once("close", r)))),
  );
  return {
    ...exit,
    stdout,
    stderr,
    json: () =>
      stdout
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
