import { parseCliArgs, USAGE, UsageError, type CliEnv } from "./cli-args.js";
import { runCommand } from "./cli-commands.js";
import { CliOutput, type OutputStreams } from "./cli-output.js";
import { connectUserService, type UserServiceClient } from "./connect-user-service.js";

/** The process the CLI runs in, passed in so that tests can run it in-process. */
export interface CliIo extends OutputStreams {
  stdin: NodeJS.ReadableStream;
  env: CliEnv;
}

/**
 * Runs the polyrpc CLI with `argv` (without `node` and the script) and resolves with the exit
 * status: 0 success, 1 a failed call or demo step, 2 bad usage.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let args;
  try {
    args = parseCliArgs(argv, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`polyrpc: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.kind === "help") {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const out = new CliOutput(args.global.json, io);
  let client: UserServiceClient | undefined;
  try {
    client = connectUserService(args.global.target);
    return await runCommand(args.command, { client, out, timeoutMs: args.global.timeoutMs, stdin: io.stdin });
  } catch (err) {
    out.error(err);
    return 1;
  } finally {
    client?.close();
  }
}
