#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
/**
 * The polyrpc command line: one subcommand per UserService RPC, `demo`, the `chat` commands of
 * the ChatService, and `token`, which mints development tokens. See `--help` and README.md. This
 * file only wires the process to runCli; it is the one place that reads process.env.
 */
import { runCli } from "./run-cli.js";

// A reader that goes away early (`polyrpc list | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: {
    POLYRPC_TARGET: process.env.POLYRPC_TARGET,
    POLYRPC_CHAT_TARGET: process.env.POLYRPC_CHAT_TARGET,
    POLYRPC_TOKEN: process.env.POLYRPC_TOKEN,
  },
  secretEnv: (name) => process.env[name],
});
