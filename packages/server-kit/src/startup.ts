import type { Logger } from "./logger.js";
import { exitOnSignals } from "./shutdown.js";

/**
 * What stops a process at start-up with a message for whoever runs it, not a stack trace: a bad
 * configuration, a database file that cannot be opened. `exitCode` is the sysexits(3) code the
 * process exits with.
 */
export abstract class StartupError extends Error {
  abstract readonly exitCode: number;
}

/** A running server as its entry point sees it. */
export interface RunningServer {
  readonly log: Logger;
  stop(): Promise<void>;
}

/**
 * The entry point of every polyrpc server process: starts it, drains it on SIGTERM or SIGINT
 * (`exitOnSignals`), and turns a StartupError into one line on stderr, `name: message`, and its
 * exit code. `start` may return nothing when it installs its own signal handling (a cluster
 * primary or worker).
 */
export async function runServer(name: string, start: () => Promise<RunningServer | void>): Promise<void> {
  try {
    const server = await start();
    if (server) exitOnSignals(() => server.stop(), server.log);
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    console.error(`${name}: ${err.message}`);
    process.exit(err.exitCode);
  }
}
