export { mapSqliteError, runSqlite, sqliteErrorCode, STORAGE_UNAVAILABLE_MESSAGE } from "./errors.js";
export { runSqliteMigrations, type MigratableDatabase } from "./migrations.js";
export { openSqliteDatabase, SqliteOpenError } from "./open.js";
