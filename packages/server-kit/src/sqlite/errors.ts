import { ResourceExhaustedError, STORAGE_FULL_MESSAGE, UnavailableError } from "../errors.js";
/** What a caller reads when the database file cannot be read or written; the cause goes to the log. */
export const STORAGE_UNAVAILABLE_MESSAGE = "the database cannot be read or written right now; try again later";

/** The primary result code of a better-sqlite3 error (`SQLITE_IOERR_WRITE` → `SQLITE_IOERR`), if any. */
export function sqliteErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return undefined;
  const extended = code.indexOf("_", "SQLITE_".length);
  return extended === -1 ? code : code.slice(0, extended);
}

/**
 * Primary result codes that mean the file, not the request, is at fault: the disk or the file
 * system failed (IOERR), the file is locked by another process for longer than the busy timeout
 * (BUSY, LOCKED), it became read-only or unreadable (READONLY, CANTOPEN, PERM), or its contents
 * are damaged (CORRUPT, NOTADB). The caller may retry elsewhere or later; nothing was written.
 */
const UNAVAILABLE_CODES = new Set([
  "SQLITE_IOERR",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_READONLY",
  "SQLITE_CANTOPEN",
  "SQLITE_PERM",
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
  "SQLITE_PROTOCOL",
]);

/**
 * Maps what better-sqlite3 throws to the kit's domain errors: a full disk (SQLITE_FULL) becomes
 * ResourceExhaustedError, a file that cannot be read or written UnavailableError, each with the
 * original error as `cause` for the log. Anything else (constraint violations included) is returned
 * unchanged for the caller to map or report as internal.
 */
export function mapSqliteError(err: unknown): unknown {
  const code = sqliteErrorCode(err);
  if (code === "SQLITE_FULL") return new ResourceExhaustedError(STORAGE_FULL_MESSAGE, { cause: err });
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    return new UnavailableError(STORAGE_UNAVAILABLE_MESSAGE, { cause: err });
  }
  return err;
}

/** Runs SQLite work (a statement, a transaction), throwing what it fails with through mapSqliteError. */
export function runSqlite<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    throw mapSqliteError(err);
  }
}
