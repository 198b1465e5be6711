import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The proto package's root directory. */
export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The buf module (the repository's proto/ directory). */
export const moduleDir = resolve(packageDir, "../../proto");
export const repoDir = resolve(packageDir, "../..");

const binDir = join(packageDir, "node_modules", ".bin");

export interface RunResult {
  code: number;
  output: string;
}

/** Runs the pinned buf binary from this package, with protoc-gen-es on the PATH. */
export function buf(args: string[], cwd = packageDir): RunResult {
  return run(join(binDir, "buf"), args, cwd);
}

/** Runs one of this package's scripts (scripts/<name>) with the current Node. */
export function script(name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): RunResult {
  return run(process.execPath, [join(packageDir, "scripts", name), ...args], packageDir, env);
}

function run(cmd: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): RunResult {
  try {
    const output = execFileSync(cmd, args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...extraEnv, PATH: `${binDir}:${process.env.PATH ?? ""}` },
    });
    return { code: 0, output };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}
