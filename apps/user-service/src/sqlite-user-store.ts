import type Database from "better-sqlite3";
import { mapSqliteError, openSqliteDatabase, runSqlite, runSqliteMigrations } from "@polyrpc/server-kit/sqlite";
import {
  DuplicateUserError,
  throwIfCallEnded,
  UserNotFoundError,
  type NewUser,
  type StoreCallOptions,
  type StoredUser,
  type UserChanges,
  type UserStore,
} from "./user-store.js";

/** Schema versions, applied in order at start-up; each runs once, in its own transaction. */
const migrations: readonly string[] = [
  `CREATE TABLE users (
     seq           INTEGER PRIMARY KEY AUTOINCREMENT,
     id            TEXT    NOT NULL UNIQUE,
     username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
     email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
     password_hash TEXT    NOT NULL,
     created_at    INTEGER NOT NULL,
     roles         TEXT    NOT NULL DEFAULT '["user"]'
   ) STRICT`,
];

interface UserRow {
  seq: number;
  id: string;
  username: string;
  email: string;
  password_hash: string;
  created_at: number;
  roles: string;
}

function fromRow(row: UserRow): StoredUser {
  return {
    seq: row.seq,
    id: row.id,
    username: row.username,
    email: row.email,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    roles: JSON.parse(row.roles) as string[],
  };
}

/** A row of the page statement as an array (raw mode), in the order of PAGE_COLUMNS. */
type UserColumns = [
  seq: number,
  id: string,
  username: string,
  email: string,
  password_hash: string,
  created_at: number,
  roles: string,
];
const PAGE_COLUMNS = "seq, id, username, email, password_hash, created_at, roles";

function fromColumns(row: UserColumns): StoredUser {
  return {
    seq: row[0],
    id: row[1],
    username: row[2],
    email: row[3],
    passwordHash: row[4],
    createdAt: row[5],
    roles: JSON.parse(row[6]) as string[],
  };
}

/**
 * Maps what a write threw: SQLite's UNIQUE violations to the domain error naming the taken field,
 * a full disk or an unusable file to RESOURCE_EXHAUSTED or UNAVAILABLE (mapSqliteError).
 */
function writeError(err: unknown, user: { username?: string | undefined; email?: string | undefined }): never {
  const e = err as { code?: string; message?: string };
  if (e.code === "SQLITE_CONSTRAINT_UNIQUE") {
    if (e.message?.includes("users.username")) throw new DuplicateUserError("username", user.username ?? "");
    if (e.message?.includes("users.email")) throw new DuplicateUserError("email", user.email ?? "");
  }
  throw mapSqliteError(err);
}

/** Applies the migrations this database has not seen yet; returns the schema version. */
export function migrate(db: Database.Database): number {
  return runSqliteMigrations(db, migrations);
}

/**
 * The UserStore on an embedded SQLite database (better-sqlite3): one file, or `:memory:`. Its
 * statements run synchronously and cannot be interrupted, so a call that has already ended (past
 * its deadline, or cancelled) is refused before any statement runs.
 *
 * Writes with RETURNING read their rows with `.all()`, never `.get()`: SQLite commits an
 * autocommit statement when it is stepped to its end, and `.get()` stops after the first row and
 * drops an error raised there (SQLITE_FULL on a full disk), which would acknowledge a write that
 * was rolled back.
 */
export class SqliteUserStore implements UserStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(path: string) {
    this.db = openSqliteDatabase(path, migrations);
    this.stmts = {
      get: this.db.prepare<[string], UserRow>("SELECT * FROM users WHERE id = ?"),
      insert: this.db.prepare<[string, string, string, string, number, string], UserRow>(
        "INSERT INTO users (id, username, email, password_hash, created_at, roles) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
      ),
      update: this.db.prepare<[string | null, string | null, string], UserRow>(
        "UPDATE users SET username = COALESCE(?, username), email = COALESCE(?, email) WHERE id = ? RETURNING *",
      ),
      delete: this.db.prepare<[string]>("DELETE FROM users WHERE id = ?"),
      // Rows as arrays: better-sqlite3 builds a keyed object per row at about twice the cost, which
      // showed in ListUsers' profile (the page read was a third of a streamed user's CPU).
      page: this.db
        .prepare<[number, number], UserColumns>(`SELECT ${PAGE_COLUMNS} FROM users WHERE seq > ? ORDER BY seq LIMIT ?`)
        .raw(true),
    };
  }

  private insert(user: NewUser): StoredUser {
    try {
      const [row] = this.stmts.insert.all(
        user.id,
        user.username,
        user.email,
        user.passwordHash,
        user.createdAt,
        JSON.stringify(user.roles),
      );
      return fromRow(row!);
    } catch (err) {
      return writeError(err, user);
    }
  }

  async get(id: string, call: StoreCallOptions = {}): Promise<StoredUser> {
    throwIfCallEnded(call);
    const row = runSqlite(() => this.stmts.get.get(id));
    if (!row) throw new UserNotFoundError(id);
    return fromRow(row);
  }

  async create(user: NewUser, call: StoreCallOptions = {}): Promise<StoredUser> {
    throwIfCallEnded(call);
    return this.insert(user);
  }

  async createMany(users: readonly NewUser[], call: StoreCallOptions = {}): Promise<StoredUser[]> {
    throwIfCallEnded(call);
    // The COMMIT itself can fail (a full disk): the batch is rolled back and says so.
    return runSqlite(() => this.db.transaction((batch: readonly NewUser[]) => batch.map((u) => this.insert(u)))(users));
  }

  async update(id: string, changes: UserChanges, call: StoreCallOptions = {}): Promise<StoredUser> {
    throwIfCallEnded(call);
    let row: UserRow | undefined;
    try {
      [row] = this.stmts.update.all(changes.username ?? null, changes.email ?? null, id);
    } catch (err) {
      return writeError(err, changes);
    }
    if (!row) throw new UserNotFoundError(id);
    return fromRow(row);
  }

  async delete(id: string, call: StoreCallOptions = {}): Promise<void> {
    throwIfCallEnded(call);
    if (runSqlite(() => this.stmts.delete.run(id).changes) === 0) throw new UserNotFoundError(id);
  }

  async listPage(afterSeq: number, limit: number, call: StoreCallOptions = {}): Promise<StoredUser[]> {
    throwIfCallEnded(call);
    return runSqlite(() => this.stmts.page.all(afterSeq, limit)).map(fromColumns);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
