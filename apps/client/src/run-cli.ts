import { readFileSync } from "node:fs";
import { credentials, type ChannelCredentials } from "@polyrpc/grpc-client";
import { runChatCommand } from "./chat-commands.js";
import {
  isChatCommand,
  parseCliArgs,
  USAGE,
  UsageError,
  type CliEnv,
  type TlsFiles,
  type TokenCommand,
} from "./cli-args.js";
import { runCommand } from "./cli-commands.js";
import { CliOutput, type OutputStreams } from "./cli-output.js";
import { connectChatService } from "./connect-chat-service.js";
import { connectUserService } from "./connect-user-service.js";
import { MIN_SECRET_BYTES, mintDevelopmentToken } from "./development-token.js";

/** The process the CLI runs in, passed in so that tests can run it in-process. */
export interface CliIo extends OutputStreams {
  stdin: NodeJS.ReadableStream;
  env: CliEnv;
  /** Reads the environment variable `token --secret-env` names (the HS256 secret). */
  secretEnv?: (name: string) => string | undefined;
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
  if (command.name === "token") return await runTokenCommand(command, out, io);
  const { timeoutMs, token, loadBalancing } = global;
  const credentials = global.tls ? tlsCredentials(global.tls) : undefined;
  let client: { close(): void } | undefined;
  try {
    if (isChatCommand(command)) {
      const chat = (client = connectChatService(global.chatTarget, { token, credentials, loadBalancing }));
      return await runChatCommand(command, { client: chat, out, streams: io, timeoutMs, stdin: io.stdin });
    }
    const users = (client = connectUserService(global.target, { token, credentials, loadBalancing }));
    return await runCommand(command, { client: users, out, timeoutMs, stdin: io.stdin });
  } catch (err) {
    out.error(err);
    return 1;
  } finally {
    client?.close();
  }
}

/** grpc-js TLS credentials from PEM files: the CA to trust (system CAs when omitted), and a client certificate for mTLS. */
function tlsCredentials(files: TlsFiles): ChannelCredentials {
  const read = (file: string | undefined) => (file === undefined ? null : readFileSync(file));
  return credentials.createSsl(read(files.ca), read(files.key), read(files.cert));
}

/** `polyrpc token`: prints a development token signed with the secret in `$<secretEnv>`. */
async function runTokenCommand(command: TokenCommand, out: CliOutput, io: CliIo): Promise<number> {
  const secret = io.secretEnv?.(command.secretEnv) ?? "";
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    io.stderr.write(
      `polyrpc: token signs with the secret in $${command.secretEnv}, which must hold at least ${MIN_SECRET_BYTES} bytes (the services' AUTH_HS256_SECRET)\n`,
    );
    return 2;
  }
  const issuedAt = new Date();
  const { subject, roles, ttlSeconds, issuer, audience } = command;
  const jwt = await mintDevelopmentToken({ secret, subject, roles, ttlSeconds, issuer, audience, now: issuedAt });
  const expiresAt = new Date(Math.floor(issuedAt.getTime() / 1000) * 1000 + command.ttlSeconds * 1000);
  out.record({ token: jwt, subject, roles, expiresAt: expiresAt.toISOString() }, jwt);
  return 0;
}
