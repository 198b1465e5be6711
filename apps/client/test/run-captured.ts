import { Readable } from "node:stream";
import type { CliEnv } from "../src/cli-args.js";
import { runCli } from "../src/run-cli.js";

/**
 * Runs the CLI in-process, as `polyrpc argv...` would, with empty stdin, and returns its exit
 * code and everything it printed. `secrets` answers `token --secret-env`.
 */
export async function runCaptured(argv: string[], env: CliEnv = {}, secrets: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: Readable.from([]),
    env,
    secretEnv: (name) => secrets[name],
  });
  return { code, stdout, stderr };
}
