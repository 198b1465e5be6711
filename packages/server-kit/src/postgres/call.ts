import pg from "pg";
import { CancelledError, DeadlineExceededError } from "../errors.js";
import { isConnectionError, mapPostgresError } from "./errors.js";

/** What a call hands its storage: its deadline and the signal that fires when it is cancelled. */
export interface DatabaseCallOptions {
  deadline?: Date | undefined;
  signal?: AbortSignal | undefined;
}

/** How long a backend cancel may take to reach the server before the connection is simply closed. */
const CANCEL_TIMEOUT_MS = 2000;

/**
 * Deadlines further away than this (about 24.8 days: the largest setTimeout delay and the largest
 * statement_timeout) are treated as no deadline.
 */
const MAX_TIMEOUT_MS = 2_147_483_647;

function deadlineError(): DeadlineExceededError {
  return new DeadlineExceededError("the deadline passed before the database answered");
}

/** Why the call ended: its deadline or its caller (a signal aborting at the deadline counts as the deadline). */
function endedError(call: DatabaseCallOptions): Error {
  return call.deadline && call.deadline.getTime() <= Date.now()
    ? deadlineError()
    : new CancelledError("the call was cancelled");
}

/** The server process serving a connection (node-postgres records it from BackendKeyData). */
function backendPid(client: pg.PoolClient): number | undefined {
  const pid = (client as unknown as { processID?: unknown }).processID;
  return typeof pid === "number" ? pid : undefined;
}

/**
 * Asks the server to cancel what backend `pid` is running, through a connection of its own (the
 * pool may be exhausted, and the busy connection is the one to cancel).
 */
async function cancelBackend(pool: pg.Pool, pid: number): Promise<void> {
  const client = new pg.Client({
    ...pool.options,
    // Its own name, so it is never mistaken for the work it cancels in pg_stat_activity.
    application_name: `${pool.options.application_name ?? "polyrpc"} (cancel)`,
    connectionTimeoutMillis: CANCEL_TIMEOUT_MS,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT pg_cancel_backend($1)", [pid]);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Waits for a pool connection, but no longer than the call lives. A connection that arrives after
 * the call ended goes straight back to the pool.
 */
function connectWithin(pool: pg.Pool, ended: Promise<never>): Promise<pg.PoolClient> {
  const connecting = pool.connect();
  return Promise.race([connecting, ended]).catch((err: unknown) => {
    connecting.then(
      (late) => late.release(),
      () => {},
    );
    throw err;
  });
}

/**
 * Runs `work` on one pooled connection within a call's deadline and cancellation. The remaining
 * time becomes the transaction's `statement_timeout` (SET LOCAL, so the server stops the statement
 * itself); when the call is cancelled or its deadline passes first, the call fails at once and the
 * running statement is cancelled on the server (`pg_cancel_backend`), so it leaves
 * pg_stat_activity within moments, and that connection is closed rather than reused.
 *
 * With `transaction` (or a deadline, which SET LOCAL needs), `work` runs between BEGIN and COMMIT
 * and is rolled back on any failure or cancellation. Errors come back mapped by mapPostgresError.
 */
export async function withPostgresCall<T>(
  pool: pg.Pool,
  call: DatabaseCallOptions,
  work: (client: pg.PoolClient) => Promise<T>,
  { transaction = false }: { transaction?: boolean } = {},
): Promise<T> {
  if (call.signal?.aborted) throw endedError(call);
  const deadline = call.deadline && call.deadline.getTime() - Date.now() <= MAX_TIMEOUT_MS ? call.deadline : undefined;
  const remainingMs = deadline ? deadline.getTime() - Date.now() : undefined;
  if (remainingMs !== undefined && remainingMs <= 0) throw deadlineError();

  // Rejects when the call ends (cancelled, or past its deadline) before the work does.
  let endError: Error | undefined;
  let onEnd: (err: Error) => void = () => {};
  const ended = new Promise<never>((_, reject) => (onEnd = reject));
  ended.catch(() => {});
  const end = () => {
    endError ??= endedError(call);
    onEnd(endError);
  };
  const timer = remainingMs !== undefined ? setTimeout(end, remainingMs) : undefined;
  call.signal?.addEventListener("abort", end, { once: true });
  const stopWatching = () => {
    clearTimeout(timer);
    call.signal?.removeEventListener("abort", end);
  };

  let client: pg.PoolClient;
  try {
    client = await connectWithin(pool, ended);
  } catch (err) {
    stopWatching();
    throw mapPostgresError(err);
  }
  // A connection that breaks while checked out also emits 'error', which would crash the process
  // unheard; the failure reaches the work through its query, so the event itself is ignored here.
  const ignore = () => {};
  client.on("error", ignore);
  const release = (destroy?: boolean) => {
    client.off("error", ignore);
    client.release(destroy);
  };

  const inTransaction = transaction || remainingMs !== undefined;
  const running = (async () => {
    if (inTransaction) {
      const left = deadline ? Math.max(1, deadline.getTime() - Date.now()) : 0;
      await client.query(left ? `BEGIN; SET LOCAL statement_timeout = ${left}` : "BEGIN");
    }
    const result = await work(client);
    // A call that ended while the last statement ran must not commit.
    if (endError) throw endError;
    if (inTransaction) await client.query("COMMIT");
    return result;
  })();

  try {
    const result = await Promise.race([running, ended]);
    release();
    return result;
  } catch (err) {
    if (endError && err === endError) {
      // The call ended first: cancel the statement on the server, then close the connection (which
      // also rolls back whatever it had begun) instead of handing it to the next call.
      const pid = backendPid(client);
      void (async () => {
        if (pid !== undefined) await cancelBackend(pool, pid).catch(() => {});
        await running.catch(() => {});
        release(true);
      })();
      throw err;
    }
    let reusable = !isConnectionError(err);
    if (reusable && inTransaction) {
      reusable = await client.query("ROLLBACK").then(
        () => true,
        () => false,
      );
    }
    release(!reusable);
    throw mapPostgresError(err);
  } finally {
    stopWatching();
  }
}

/** One statement within a call's deadline and cancellation (see withPostgresCall). */
export async function postgresQuery<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  call: DatabaseCallOptions,
  text: string,
  values: readonly unknown[] = [],
): Promise<pg.QueryResult<R>> {
  return withPostgresCall(pool, call, (client) => client.query<R>(text, values as unknown[]));
}

/** A transaction within a call's deadline and cancellation: committed only if `work` succeeds. */
export async function postgresTransaction<T>(
  pool: pg.Pool,
  call: DatabaseCallOptions,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return withPostgresCall(pool, call, work, { transaction: true });
}
