export { postgresQuery, postgresTransaction, withPostgresCall, type DatabaseCallOptions } from "./call.js";
export {
  DATABASE_UNAVAILABLE_MESSAGE,
  isConnectionError,
  isUniqueViolation,
  mapPostgresError,
  postgresErrorCode,
} from "./errors.js";
export { migrationLockKey, runPostgresMigrations, type PostgresMigrations } from "./migrations.js";
export { createPostgresPool, postgresEnvShape, postgresPoolOptions, type PostgresPoolOptions } from "./pool.js";
