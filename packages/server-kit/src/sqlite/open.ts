import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { StartupError } from "../startup.js";
import { runSqliteMigrations } from "./migrations.js";

/** A SQLite database that could not be opened at start-up; its message names the file and why. */
export class SqliteOpenError extends StartupError {
  override readonly name = "SqliteOpenError";
  readonly exitCode = 74; // EX_IOERR
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`cannot open the SQLite database ${path}: ${reason}`, { cause });
  }
}

/**
 * Opens (creating it and its folder if needed) the SQLite file at `path`, or an in-memory database
 * for `:memory:`, in the mode every polyrpc store uses, and applies the `migrations` it has not seen:
 * WAL, so readers and the writer proceed together; `synchronous = NORMAL`, durable across crashes of
 * the app (an acknowledged write survives anything but a power loss in the last commit); a 5 s busy
 * timeout for processes sharing the file. A file that is not a database, has a damaged header or
 * cannot be read throws SqliteOpenError naming the file, instead of a stack trace from the first
 * statement. (Damage deeper in the file shows when a call reaches it: UNAVAILABLE, see
 * mapSqliteError; a full check at every start would read the whole file.)
 */
export function openSqliteDatabase(path: string, migrations: readonly string[]): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    runSqliteMigrations(db, migrations);
    return db;
  } catch (err) {
    db?.close();
    throw new SqliteOpenError(path, err);
  }
}
