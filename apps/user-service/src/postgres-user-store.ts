import type pg from "pg";
import type { Logger } from "@polyrpc/server-kit";
import {
  createPostgresPool,
  isUniqueViolation,
  postgresQuery,
  postgresTransaction,
  runPostgresMigrations,
  type PostgresPoolOptions,
} from "@polyrpc/server-kit/postgres";
import {
  DuplicateUserError,
  UserNotFoundError,
  type NewUser,
  type StoreCallOptions,
  type StoredUser,
  type UserChanges,
  type UserStore,
} from "./user-store.js";

/**
 * Schema versions, applied in order at start-up under an advisory lock (so replicas starting
 * together apply each once); recorded in `users_schema_migrations`. Usernames and emails are
 * unique case-insensitively through unique indexes on lower(...), as SQLite's COLLATE NOCASE does.
 */
export const userMigrations: readonly string[] = [
  `CREATE TABLE users (
     seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     id            text   NOT NULL,
     username      text   NOT NULL,
     email         text   NOT NULL,
     password_hash text   NOT NULL,
     created_at    bigint NOT NULL,
     roles         text[] NOT NULL DEFAULT ARRAY['user'],
     CONSTRAINT users_id_key UNIQUE (id)
   );
   CREATE UNIQUE INDEX users_username_key ON users (lower(username));
   CREATE UNIQUE INDEX users_email_key ON users (lower(email));`,
];

const COLUMNS = "seq, id, username, email, password_hash, created_at, roles";

interface UserRow {
  /** bigint columns arrive as strings; both stay far below 2^53. */
  seq: string;
  id: string;
  username: string;
  email: string;
  password_hash: string;
  created_at: string;
  roles: string[];
}

function fromRow(row: UserRow): StoredUser {
  return {
    seq: Number(row.seq),
    id: row.id,
    username: row.username,
    email: row.email,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
    roles: row.roles,
  };
}

/**
 * Maps a unique violation to the domain error naming the taken field. The value is the caller's
 * own spelling when the offending user is known (`candidates`), else the one PostgreSQL reports.
 */
function duplicateFrom(err: unknown, candidates: ReadonlyArray<{ username?: string; email?: string }>): never {
  if (isUniqueViolation(err)) {
    const field =
      err.constraint === "users_username_key" ? "username" : err.constraint === "users_email_key" ? "email" : undefined;
    if (field) {
      // detail: Key (lower(username))=(ada) already exists.
      const reported = /\)=\((.*)\) already exists/.exec((err as { detail?: string }).detail ?? "")?.[1] ?? "";
      const original = candidates.find((c) => c[field]?.toLowerCase() === reported)?.[field];
      throw new DuplicateUserError(field, original ?? reported);
    }
  }
  throw err;
}

export interface PostgresUserStoreOptions extends PostgresPoolOptions {
  log?: Logger;
}

/**
 * The UserStore on PostgreSQL, for several replicas sharing one database. Every method runs within
 * its call's deadline (a statement timeout) and cancellation (a backend cancel), and fails with
 * UNAVAILABLE at once while the database cannot be reached; the pool reconnects by itself.
 */
export class PostgresUserStore implements UserStore {
  private constructor(readonly pool: pg.Pool) {}

  /** Opens a pool and brings the schema up to date; fails when the database cannot be reached. */
  static async open(options: PostgresUserStoreOptions): Promise<PostgresUserStore> {
    const pool = createPostgresPool(options);
    try {
      await runPostgresMigrations(pool, { name: "users", migrations: userMigrations });
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return new PostgresUserStore(pool);
  }

  async get(id: string, call: StoreCallOptions = {}): Promise<StoredUser> {
    const { rows } = await postgresQuery<UserRow>(this.pool, call, `SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
    if (!rows[0]) throw new UserNotFoundError(id);
    return fromRow(rows[0]);
  }

  async create(user: NewUser, call: StoreCallOptions = {}): Promise<StoredUser> {
    const [created] = await this.createMany([user], call);
    return created!;
  }

  async createMany(users: readonly NewUser[], call: StoreCallOptions = {}): Promise<StoredUser[]> {
    if (users.length === 0) return [];
    // One statement for the whole batch (one transaction): all rows, or none.
    const column = <K extends keyof NewUser>(key: K) => users.map((u) => u[key]);
    try {
      const { rows } = await postgresTransaction(this.pool, call, (client) =>
        client.query<UserRow>(
          `INSERT INTO users (id, username, email, password_hash, created_at, roles)
           SELECT id, username, email, password_hash, created_at, ARRAY(SELECT jsonb_array_elements_text(roles))
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::jsonb[])
                  WITH ORDINALITY AS batch(id, username, email, password_hash, created_at, roles, position)
            ORDER BY position
           RETURNING ${COLUMNS}`,
          [
            column("id"),
            column("username"),
            column("email"),
            column("passwordHash"),
            column("createdAt"),
            users.map((u) => JSON.stringify(u.roles)),
          ],
        ),
      );
      return rows.map(fromRow).sort((a, b) => a.seq - b.seq);
    } catch (err) {
      return duplicateFrom(err, users);
    }
  }

  async update(id: string, changes: UserChanges, call: StoreCallOptions = {}): Promise<StoredUser> {
    try {
      const { rows } = await postgresQuery<UserRow>(
        this.pool,
        call,
        `UPDATE users SET username = COALESCE($1, username), email = COALESCE($2, email) WHERE id = $3
         RETURNING ${COLUMNS}`,
        [changes.username ?? null, changes.email ?? null, id],
      );
      if (!rows[0]) throw new UserNotFoundError(id);
      return fromRow(rows[0]);
    } catch (err) {
      return duplicateFrom(err, [changes]);
    }
  }

  async delete(id: string, call: StoreCallOptions = {}): Promise<void> {
    const { rowCount } = await postgresQuery(this.pool, call, "DELETE FROM users WHERE id = $1", [id]);
    if (rowCount === 0) throw new UserNotFoundError(id);
  }

  async listPage(afterSeq: number, limit: number, call: StoreCallOptions = {}): Promise<StoredUser[]> {
    const { rows } = await postgresQuery<UserRow>(
      this.pool,
      call,
      `SELECT ${COLUMNS} FROM users WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [afterSeq, limit],
    );
    return rows.map(fromRow);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
