import type pg from "pg";
import { postgresQuery, runPostgresMigrations } from "@polyrpc/server-kit/postgres";
import type { ChatLog, LogCall, ReadOptions, StoredMessage } from "./chat-log.js";
import { CHAT_NOTIFY_CHANNEL, MESSAGE_NOTIFICATION, messageNotificationColumns } from "./chat-notification.js";

/**
 * Schema versions, applied in order at start-up under the kit's advisory lock, so replicas that
 * start together apply each once. `chat_rooms.last_sequence` is the room's counter: appenders
 * update its row, so they queue on its row lock and each takes the next number.
 */
const migrations: readonly string[] = [
  `CREATE TABLE chat_rooms (
     room          text   PRIMARY KEY,
     last_sequence bigint NOT NULL
   );
   CREATE TABLE chat_messages (
     room     text        NOT NULL,
     sequence bigint      NOT NULL,
     sender   text        NOT NULL,
     text     text        NOT NULL,
     sent_at  timestamptz NOT NULL,
     PRIMARY KEY (room, sequence)
   )`,
];

/**
 * One statement, so one transaction and one round trip: take the room's next sequence (the upsert
 * holds the counter row's lock until commit, which serialises appenders of a room across every
 * replica), store the message with it, and queue the notification, which PostgreSQL delivers only
 * if and when the transaction commits, in commit order (= sequence order within a room).
 */
const APPEND_SQL = `
  WITH counter AS (
    INSERT INTO chat_rooms AS r (room, last_sequence) VALUES ($1, 1)
    ON CONFLICT (room) DO UPDATE SET last_sequence = r.last_sequence + 1
    RETURNING last_sequence
  ), stored AS (
    INSERT INTO chat_messages (room, sequence, sender, text, sent_at)
    SELECT $1, last_sequence, $2, $3, $4 FROM counter
    RETURNING room, sequence, sender, text, sent_at
  ), payload AS (
    SELECT stored.*, ${messageNotificationColumns("$5")}
    FROM stored
  )
  SELECT room, sequence, sender, text, sent_at, pg_notify('${CHAT_NOTIFY_CHANNEL}', ${MESSAGE_NOTIFICATION})
  FROM payload`;

const COLUMNS = "room, sequence, sender, text, sent_at";

interface MessageRow {
  room: string;
  /** int8 arrives as a string (node-postgres keeps it exact). */
  sequence: string;
  sender: string;
  text: string;
  sent_at: Date;
}

function fromRow(row: MessageRow): StoredMessage {
  return { room: row.room, sender: row.sender, text: row.text, sentAt: row.sent_at, sequence: BigInt(row.sequence) };
}

/** PostgreSQL bigints are signed 64-bit; wire sequences are uint64. Larger bounds mean "no bound". */
const MAX_INT64 = 2n ** 63n - 1n;
const clamp = (sequence: bigint) => (sequence > MAX_INT64 ? MAX_INT64 : sequence);

/** Applies the chat's schema versions this database has not seen yet; returns the schema version. */
export function migratePostgres(pool: pg.Pool): Promise<number> {
  return runPostgresMigrations(pool, { name: "chat", migrations });
}

/** Options of `PostgresChatLog.open`. */
export interface PostgresChatLogOptions {
  /** The clock that stamps `sentAt`; tests pin it. */
  now?: () => Date;
}

/**
 * The ChatLog on PostgreSQL, shared by every replica: sequences come from a per-room counter row
 * updated in the append's own transaction, so they are gap-free whoever appends, and the append
 * notifies `CHAT_NOTIFY_CHANNEL` on commit for `PostgresChatBus`. Each operation runs within its
 * call's deadline and cancellation (the kit's `postgresQuery`); an unreachable database fails it
 * with UnavailableError. The log owns its pool: `close()` ends it.
 */
export class PostgresChatLog implements ChatLog {
  private constructor(
    /** The pool the log runs on; the bus borrows it to publish presence. */
    readonly pool: pg.Pool,
    private readonly now: () => Date,
  ) {}

  /** Migrates the database (once, whichever replica is first) and returns the log on `pool`. */
  static async open(pool: pg.Pool, options: PostgresChatLogOptions = {}): Promise<PostgresChatLog> {
    await migratePostgres(pool);
    return new PostgresChatLog(pool, options.now ?? (() => new Date()));
  }

  async append(room: string, sender: string, text: string, call: LogCall = {}): Promise<StoredMessage> {
    const sentAt = this.now();
    const { rows } = await postgresQuery<MessageRow>(this.pool, call, APPEND_SQL, [
      room,
      sender,
      text,
      sentAt,
      sentAt.getTime(),
    ]);
    return fromRow(rows[0]!);
  }

  async read(room: string, { afterSequence, beforeSequence, limit }: ReadOptions, call: LogCall = {}) {
    if (limit <= 0) return [];
    const query = (sql: string, values: unknown[]) => postgresQuery<MessageRow>(this.pool, call, sql, values);
    if (afterSequence !== undefined) {
      if (afterSequence >= MAX_INT64) return [];
      const { rows } =
        beforeSequence !== undefined
          ? await query(
              `SELECT ${COLUMNS} FROM chat_messages WHERE room = $1 AND sequence > $2 AND sequence < $3 ORDER BY sequence LIMIT $4`,
              [room, afterSequence, clamp(beforeSequence), limit],
            )
          : await query(
              `SELECT ${COLUMNS} FROM chat_messages WHERE room = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`,
              [room, afterSequence, limit],
            );
      return rows.map(fromRow);
    }
    const { rows } =
      beforeSequence !== undefined
        ? await query(
            `SELECT ${COLUMNS} FROM chat_messages WHERE room = $1 AND sequence < $2 ORDER BY sequence DESC LIMIT $3`,
            [room, clamp(beforeSequence), limit],
          )
        : await query(`SELECT ${COLUMNS} FROM chat_messages WHERE room = $1 ORDER BY sequence DESC LIMIT $2`, [
            room,
            limit,
          ]);
    return rows.reverse().map(fromRow);
  }

  async lastSequence(room: string, call: LogCall = {}): Promise<bigint> {
    const { rows } = await postgresQuery<{ last_sequence: string }>(
      this.pool,
      call,
      "SELECT last_sequence FROM chat_rooms WHERE room = $1",
      [room],
    );
    return rows.length === 0 ? 0n : BigInt(rows[0]!.last_sequence);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
