import pg from "pg";
import { z } from "zod";
import type { Logger } from "../logger.js";

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * The PostgreSQL variables an app adds to its config schema (`.extend(postgresEnvShape)`). When
 * `DATABASE_URL` is set the app stores its data in PostgreSQL instead of its SQLite file.
 */
export const postgresEnvShape = {
  /** `postgres://user:password@host:5432/database`; unset: the app uses SQLite. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  /** Most connections one process opens. */
  DATABASE_POOL_MAX: integer(1, 1000).default(10),
  /** How long opening a connection may take before the call fails with UNAVAILABLE. */
  DATABASE_CONNECT_TIMEOUT_MS: integer(100, 60_000).default(2000),
  /** Idle connections are closed after this long. */
  DATABASE_IDLE_TIMEOUT_MS: integer(1000, 3600_000).default(30_000),
};

export interface PostgresPoolOptions {
  url: string;
  /** Shown in pg_stat_activity.application_name, so operators see which service holds a connection. */
  applicationName: string;
  /** Most connections; default 10. */
  max?: number;
  /** Opening a connection fails after this long (default 2 s), so an outage fails calls fast. */
  connectTimeoutMs?: number;
  /** Idle connections are closed after this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Where errors of idle connections are reported (a restarted or stopped server, say). */
  log?: Logger;
}

/** The pool options from an app's config, for `createPostgresPool`. */
export function postgresPoolOptions(
  config: {
    DATABASE_URL?: string | undefined;
    DATABASE_POOL_MAX: number;
    DATABASE_CONNECT_TIMEOUT_MS: number;
    DATABASE_IDLE_TIMEOUT_MS: number;
  },
  applicationName: string,
): Omit<PostgresPoolOptions, "log"> {
  if (!config.DATABASE_URL) throw new Error("DATABASE_URL is not set");
  return {
    url: config.DATABASE_URL,
    applicationName,
    max: config.DATABASE_POOL_MAX,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: config.DATABASE_IDLE_TIMEOUT_MS,
  };
}

/**
 * A pool of PostgreSQL connections (node-postgres). Connections are opened on demand, so creating
 * the pool never fails, and a pool whose server went away recovers by itself: broken connections
 * are dropped and the next call opens a fresh one.
 */
export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    application_name: options.applicationName,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    // TCP keepalive notices a server that vanished without closing its connections.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle connection that breaks (server restart, network) emits 'error' on the pool; without a
  // listener that would crash the process. The pool has already dropped the connection.
  pool.on("error", (err) => {
    options.log?.warn(
      { err: { message: err.message, code: (err as { code?: string }).code } },
      "idle database connection failed",
    );
  });
  return pool;
}
