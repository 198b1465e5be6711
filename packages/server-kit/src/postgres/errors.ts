import {
  CancelledError,
  DeadlineExceededError,
  ResourceExhaustedError,
  STORAGE_FULL_MESSAGE,
  UnavailableError,
} from "../errors.js";

/** What a caller reads when the database cannot be reached; the cause goes to the log only. */
export const DATABASE_UNAVAILABLE_MESSAGE = "the database is unavailable; try again later";

/** Node's socket errors that mean the server cannot be reached or went away. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** node-postgres's own errors (no SQLSTATE) for a connection that failed, timed out or closed. */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable/,
  /^Client has encountered a connection error/,
  /^Cannot use a pool after calling end/,
];

/**
 * SQLSTATEs meaning the server is unreachable or going away: class 08 (connection exception),
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections.
 */
function isUnavailableState(code: string): boolean {
  return code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300";
}

/** The SQLSTATE of a PostgreSQL error, or the Node error code of a socket error. */
export function postgresErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** True for a unique_violation (23505): the caller knows which field that is and says so. */
export function isUniqueViolation(err: unknown): err is Error & { constraint?: string; code: "23505" } {
  return postgresErrorCode(err) === "23505";
}

/** True when an error means the connection it came from cannot be used again. */
export function isConnectionError(err: unknown): boolean {
  const code = postgresErrorCode(err);
  if (code !== undefined && (CONNECTION_CODES.has(code) || isUnavailableState(code))) return true;
  const message = err instanceof Error ? err.message : "";
  return CONNECTION_MESSAGES.some((pattern) => pattern.test(message));
}

/**
 * Maps what node-postgres throws to the kit's domain errors: an unreachable, refusing or
 * restarting server becomes UnavailableError; a statement cancelled by its statement_timeout
 * becomes DeadlineExceededError and one cancelled on request (57014) CancelledError; a server out of
 * disk space (53100 disk_full) ResourceExhaustedError, and one failing to read or write its files
 * (58030 io_error) UnavailableError: the transaction was rolled back either way. Anything else,
 * unique violations included, is returned unchanged for the caller to map or report as internal.
 */
export function mapPostgresError(err: unknown): unknown {
  if (isConnectionError(err)) return new UnavailableError(DATABASE_UNAVAILABLE_MESSAGE, { cause: err });
  const code = postgresErrorCode(err);
  if (code === "53100") return new ResourceExhaustedError(STORAGE_FULL_MESSAGE, { cause: err });
  if (code === "58030") return new UnavailableError(DATABASE_UNAVAILABLE_MESSAGE, { cause: err });
  if (code === "57014") {
    const message = err instanceof Error ? err.message : "";
    return /statement timeout/.test(message)
      ? new DeadlineExceededError("the deadline passed while the database was working", { cause: err })
      : new CancelledError("the database statement was cancelled", { cause: err });
  }
  return err;
}
