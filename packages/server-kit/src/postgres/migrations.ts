import { createHash } from "node:crypto";
import type pg from "pg";

export interface PostgresMigrations {
  /**
   * Whose schema this is (`users`, `chat`): a plain lower-case identifier. It names the table that
   * records the applied versions (`<name>_schema_migrations`) and the advisory lock.
   */
  name: string;
  /** Version N is `migrations[N - 1]`; the list only ever grows. Each may hold several statements. */
  migrations: readonly string[];
}

/** The advisory lock key of a schema: the first 8 bytes of a SHA-256 of its name, as a bigint. */
export function migrationLockKey(name: string): bigint {
  return createHash("sha256").update(`polyrpc-migrations:${name}`).digest().readBigInt64BE(0);
}

/**
 * Applies the schema versions this database has not seen yet, in order, each in its own
 * transaction with its record in `<name>_schema_migrations`. Several replicas may start at once:
 * each holds a session-level `pg_advisory_lock` for the whole run, so the versions are applied
 * once, by whoever comes first, and the others find them recorded. Returns the schema version.
 */
export async function runPostgresMigrations(pool: pg.Pool, { name, migrations }: PostgresMigrations): Promise<number> {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`migrations name must be a plain identifier, got "${name}"`);
  const table = `${name}_schema_migrations`;
  const key = migrationLockKey(name).toString();
  const client = await pool.connect();
  // A connection that breaks while checked out emits 'error' too; the failing query reports it.
  const ignore = () => {};
  client.on("error", ignore);
  let broken: Error | undefined;
  try {
    await client.query("SELECT pg_advisory_lock($1)", [key]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${table} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const { rows } = await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0)::int AS v FROM ${table}`);
      const current = rows[0]!.v;
      for (const [index, sql] of migrations.entries()) {
        const version = index + 1;
        if (version <= current) continue;
        await client.query("BEGIN");
        try {
          await client.query(sql);
          await client.query(`INSERT INTO ${table} (version) VALUES ($1)`, [version]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK").catch(() => {});
          throw new Error(`${name} migration ${version} failed: ${(err as Error).message}`, { cause: err });
        }
      }
      return Math.max(current, migrations.length);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [key]).catch((err: Error) => (broken = err));
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    // A connection that failed may still hold the lock or a transaction: close it rather than reuse it.
    client.off("error", ignore);
    client.release(broken);
  }
}
