import { runChatCommand } from "./chat-commands.js";
import { isChatCommand, parseCliArgs, USAGE, UsageError, type CliEnv } from "./cli-args.js";
import { runCommand } from "./cli-commands.js";
import { CliOutput, type OutputStreams } from "./cli-output.js";
import { connectChatService } from "./connect-chat-service.js";
import { connectUserService } from "./connect-user-service.js";

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

  const { command, global } = args;
  const out = new CliOutput(global.json, io);
  const { timeoutMs } = global;
  let client: { close(): void } | undefined;
  try {
    if (isChatCommand(command)) {
      const chat = (client = connectChatService(global.chatTarget));
      return await runChatCommand(command, { client: chat, out, streams: io, timeoutMs, stdin: io.stdin });
    }
    const users = (client = connectUserService(global.target));
    return await runCommand(command, { client: users, out, timeoutMs, stdin: io.stdin });
  } catch (err) {
    out.error(err);
    return 1;
  } finally {
    client?.close();
  }
}
