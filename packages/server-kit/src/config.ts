import { z } from "zod";
import { StartupError } from "./startup.js";

/** Thrown at start-up when the environment is invalid; its message names every bad variable. */
export class ConfigError extends StartupError {
  override readonly name = "ConfigError";
  readonly exitCode = 78; // EX_CONFIG
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Variables whose values are never echoed in a configuration error. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|PRIVATE/;

/**
 * A value with a URL's password (`postgres://user:password@host/db`, or `?password=`) replaced by `***`, so a
 * connection URL can be shown in errors and logs; other values are returned unchanged.
 */
export function redactUrlPassword(value: string): string {
  return value
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/i, "$1:***@")
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^?#\s]*\?(?:[^#\s]*&)?password=)[^&#\s]*/i, "$1***");
}

/**
 * Validates an environment against a zod object schema whose keys are the variable names, and
 * returns the parsed, frozen result. Empty strings count as unset so that `FOO=` falls back to the
 * default instead of failing a number parse.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): Readonly<z.infer<S>> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") input[key] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = issue.path.join(".");
        const value = input[key];
        // Never print a secret back: say how long it was instead.
        const got =
          value === undefined
            ? "unset"
            : SECRET_NAME.test(key)
              ? `${value.length} characters`
              : JSON.stringify(redactUrlPassword(value));
        return `${key}: ${issue.message} (got ${got})`;
      }),
    );
  }
  return Object.freeze(result.data);
}

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * The variables every polyrpc server reads: listening address, logging, limits and shutdown.
 * Apps extend this schema with their own variables in their config.ts.
 */
export const serverEnvSchema = z.object({
  HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Largest message a server accepts, in bytes (grpc default 4 MiB). */
  MAX_RECEIVE_MESSAGE_BYTES: integer(1024, 256 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Largest message a server sends, in bytes. */
  MAX_SEND_MESSAGE_BYTES: integer(1024, 256 * 1024 * 1024).default(4 * 1024 * 1024),
  /**
   * The metadata a call may send: its request headers at most this many bytes (HTTP/2's
   * SETTINGS_MAX_HEADER_LIST_SIZE: names and values, plus 32 bytes per entry) and this many
   * entries, pseudo-headers included. The chart renders both from its sidecar's limits
   * (`envoy.limits.maxRequestHeadersKb`, `maxRequestHeadersCount`), with room for the headers the
   * sidecar adds, so the app never refuses a call the sidecar let through; the maxima leave room
   * for that over the chart's largest values (1024 KiB, 10,000 headers).
   */
  MAX_METADATA_BYTES: integer(1024, 2 * 1024 * 1024).default(16 * 1024),
  MAX_METADATA_ENTRIES: integer(8, 20_000).default(100),
  /** HTTP/2 streams per connection; further calls wait for a free stream. */
  MAX_CONCURRENT_STREAMS: integer(1, 10_000).default(100),
  /** Connections are closed (GOAWAY) after this age so long-lived channels rebalance. */
  MAX_CONNECTION_AGE_MS: integer(1000, 7 * 24 * 3600 * 1000).default(30 * 60 * 1000),
  /** Time in-flight calls get to finish after the connection-age GOAWAY. */
  MAX_CONNECTION_AGE_GRACE_MS: integer(0, 24 * 3600 * 1000).default(5 * 60 * 1000),
  KEEPALIVE_TIME_MS: integer(1000, 24 * 3600 * 1000).default(60_000),
  /**
   * A connection that has not finished its TLS handshake and sent the HTTP/2 preface and settings
   * (or an HTTP/1.1 request's first bytes) this long after it was accepted is closed.
   */
  HANDSHAKE_TIMEOUT_MS: integer(100, 10 * 60 * 1000).default(10_000),
  KEEPALIVE_TIMEOUT_MS: integer(1000, 3600 * 1000).default(20_000),
  /**
   * On SIGTERM, health turns NOT_SERVING and the server keeps answering this long before it stops
   * accepting calls, so load balancers that health-check it see the change first.
   */
  SHUTDOWN_DELAY_MS: integer(0, 10 * 60 * 1000).default(0),
  /** On SIGTERM, streams may run this long before they are ended with UNAVAILABLE. */
  SHUTDOWN_DRAIN_MS: integer(0, 10 * 60 * 1000).default(10_000),
  /** On SIGTERM, the process force-closes every connection after this long, whatever is running. */
  SHUTDOWN_TIMEOUT_MS: integer(0, 10 * 60 * 1000).default(20_000),
  /** PEM certificate chain for TLS on the app port (with TLS_KEY_FILE); plaintext when unset. */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** PEM CA bundle: when set, clients must present a certificate it signed (mTLS). */
  TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
});

export type ServerEnv = z.infer<typeof serverEnvSchema>;

/** Limits and timings of a server, on either runtime; every field has a default in serverEnvSchema. */
export type ServerLimits = Pick<
  ServerEnv,
  | "MAX_RECEIVE_MESSAGE_BYTES"
  | "MAX_SEND_MESSAGE_BYTES"
  | "MAX_CONCURRENT_STREAMS"
  | "MAX_METADATA_BYTES"
  | "MAX_METADATA_ENTRIES"
  | "MAX_CONNECTION_AGE_MS"
  | "MAX_CONNECTION_AGE_GRACE_MS"
  | "KEEPALIVE_TIME_MS"
  | "KEEPALIVE_TIMEOUT_MS"
  | "HANDSHAKE_TIMEOUT_MS"
  | "SHUTDOWN_DELAY_MS"
  | "SHUTDOWN_DRAIN_MS"
  | "SHUTDOWN_TIMEOUT_MS"
>;

/** A TCP port; 0 asks the OS for a free one. */
export const portSchema = integer(0, 65_535);
