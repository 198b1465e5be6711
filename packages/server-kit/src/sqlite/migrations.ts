/** The part of a better-sqlite3 database that migrations use (the kit does not depend on it). */
export interface MigratableDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): { get(...params: unknown[]): unknown; run(...params: unknown[]): unknown };
  transaction(fn: () => void): () => unknown;
}

/**
 * Applies the schema versions a SQLite database has not seen yet, in order, each in its own
 * transaction with its record in `schema_migrations`. Version N is `migrations[N - 1]`; a list
 * only ever grows. Returns the schema version the database is at.
 */
export function runSqliteMigrations(db: MigratableDatabase, migrations: readonly string[]): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  const current = (db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as { v: number }).v;
  const record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, unixepoch())");
  migrations.forEach((sql, index) => {
    const version = index + 1;
    if (version <= current) return;
    db.transaction(() => {
      db.exec(sql);
      record.run(version);
    })();
  });
  return Math.max(current, migrations.length);
}
