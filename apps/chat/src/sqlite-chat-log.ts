import type Database from "better-sqlite3";
import { openSqliteDatabase, runSqlite, runSqliteMigrations } from "@polyrpc/server-kit/sqlite";
import type { ChatLog, LogCall, ReadOptions, StoredMessage } from "./chat-log.js";

/** Schema versions, applied in order at start-up; each runs once, in its own transaction. */
const migrations: readonly string[] = [
  `CREATE TABLE messages (
     room       TEXT    NOT NULL,
     sequence   INTEGER NOT NULL,
     sender     TEXT    NOT NULL,
     text       TEXT    NOT NULL,
     sent_at_ms INTEGER NOT NULL,
     PRIMARY KEY (room, sequence)
   ) STRICT, WITHOUT ROWID`,
];

/** A row as read with safe integers: every INTEGER column is a bigint. */
interface MessageRow {
  room: string;
  sequence: bigint;
  sender: string;
  text: string;
  sent_at_ms: bigint;
}

/** SQLite integers are signed 64-bit; wire sequences are uint64. Larger bounds mean "no bound". */
const MAX_INT64 = 2n ** 63n - 1n;
const clamp = (sequence: bigint) => (sequence > MAX_INT64 ? MAX_INT64 : sequence);

function fromRow(row: MessageRow): StoredMessage {
  return {
    room: row.room,
    sender: row.sender,
    text: row.text,
    sentAt: new Date(Number(row.sent_at_ms)),
    sequence: row.sequence,
  };
}

/** Applies the migrations this database has not seen yet; returns the schema version. */
export function migrate(db: Database.Database): number {
  return runSqliteMigrations(db, migrations);
}

/** Options of `SqliteChatLog`. */
export interface SqliteChatLogOptions {
  /** The clock that stamps `sentAt`; tests pin it. */
  now?: () => Date;
}

/**
 * The ChatLog on an embedded SQLite database (better-sqlite3): one file, or `:memory:`. Appends run
 * in an IMMEDIATE transaction, so processes sharing the file also get gap-free sequences. Every
 * operation is synchronous and takes microseconds, so it ignores the call's deadline and signal.
 * A full disk fails the append with RESOURCE_EXHAUSTED and an unusable file any operation with
 * UNAVAILABLE (mapSqliteError): a message is acknowledged only once it is committed.
 */
export class SqliteChatLog implements ChatLog {
  private readonly db: Database.Database;
  private readonly now: () => Date;
  private readonly stmts;
  private readonly appendTx: (room: string, sender: string, text: string, sentAtMs: number) => MessageRow;

  constructor(path: string, options: SqliteChatLogOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.db = openSqliteDatabase(path, migrations);
    // Sequences are uint64 on the wire: read every integer as a bigint.
    const prepare = <P extends unknown[]>(sql: string) => this.db.prepare<P, MessageRow>(sql).safeIntegers(true);
    this.stmts = {
      next: this.db
        .prepare<[string], { next: bigint }>(
          "SELECT COALESCE(MAX(sequence), 0) + 1 AS next FROM messages WHERE room = ?",
        )
        .safeIntegers(true),
      last: this.db
        .prepare<[string], { last: bigint }>("SELECT COALESCE(MAX(sequence), 0) AS last FROM messages WHERE room = ?")
        .safeIntegers(true),
      insert: prepare<[string, bigint, string, string, number]>(
        "INSERT INTO messages (room, sequence, sender, text, sent_at_ms) VALUES (?, ?, ?, ?, ?) RETURNING *",
      ),
      after: prepare<[string, bigint, number]>(
        "SELECT * FROM messages WHERE room = ? AND sequence > ? ORDER BY sequence LIMIT ?",
      ),
      between: prepare<[string, bigint, bigint, number]>(
        "SELECT * FROM messages WHERE room = ? AND sequence > ? AND sequence < ? ORDER BY sequence LIMIT ?",
      ),
      before: prepare<[string, bigint, number]>(
        "SELECT * FROM messages WHERE room = ? AND sequence < ? ORDER BY sequence DESC LIMIT ?",
      ),
      latest: prepare<[string, number]>("SELECT * FROM messages WHERE room = ? ORDER BY sequence DESC LIMIT ?"),
    };
    const tx = this.db.transaction((room: string, sender: string, text: string, sentAtMs: number) => {
      const { next } = this.stmts.next.get(room)!;
      // .all(), not .get(): a RETURNING statement's errors come when it is stepped to its end.
      return this.stmts.insert.all(room, next, sender, text, sentAtMs)[0]!;
    });
    // IMMEDIATE takes the write lock before reading MAX(sequence), so two writers never pick the same one.
    this.appendTx = (...args) => tx.immediate(...args);
  }

  async append(room: string, sender: string, text: string, _call?: LogCall): Promise<StoredMessage> {
    return fromRow(runSqlite(() => this.appendTx(room, sender, text, this.now().getTime())));
  }

  async read(
    room: string,
    { afterSequence, beforeSequence, limit }: ReadOptions,
    _call?: LogCall,
  ): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    if (afterSequence !== undefined) {
      if (afterSequence >= MAX_INT64) return [];
      const rows = runSqlite(() =>
        beforeSequence !== undefined
          ? this.stmts.between.all(room, afterSequence, clamp(beforeSequence), limit)
          : this.stmts.after.all(room, afterSequence, limit),
      );
      return rows.map(fromRow);
    }
    const rows = runSqlite(() =>
      beforeSequence !== undefined
        ? this.stmts.before.all(room, clamp(beforeSequence), limit)
        : this.stmts.latest.all(room, limit),
    );
    return rows.reverse().map(fromRow);
  }

  async lastSequence(room: string, _call?: LogCall): Promise<bigint> {
    return runSqlite(() => this.stmts.last.get(room)!.last);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
