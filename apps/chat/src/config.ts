import { z } from "zod";
import { callPipelineEnvShape, checkAuthEnv, loadConfig, portSchema, serverEnvSchema } from "@polyrpc/server-kit";
import { postgresEnvShape } from "@polyrpc/server-kit/postgres";

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `*`, or an origin as browsers send it: scheme, host and optional port, nothing after. */
function isOrigin(value: string): boolean {
  if (value === "*") return true;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
  } catch {
    return false;
  }
}

/** A comma-separated list of browser origins; empty entries are ignored. */
const originListSchema = z
  .string()
  .transform((value) =>
    value
      .split(",")
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ""),
  )
  .pipe(
    z.array(z.string()).superRefine((origins, ctx) => {
      for (const origin of origins.filter((o) => !isOrigin(o))) {
        ctx.addIssue({ code: "custom", message: `"${origin}" is not an origin like https://chat.example.com` });
      }
      if (origins.includes("*") && origins.length > 1) {
        ctx.addIssue({ code: "custom", message: "* allows every origin; list nothing else with it" });
      }
    }),
  );

/** Every environment variable the chat service reads; nothing else touches process.env. */
export const chatEnvSchema = serverEnvSchema
  .extend({
    PORT: portSchema.default(50052),
    /** SQLite database file; `:memory:` keeps everything in memory (tests). Ignored when DATABASE_URL is set. */
    DATABASE_PATH: z.string().min(1).default("./data/chat.db"),
    /** `host:port` of the UserService that vouches for user ids. */
    USER_SERVICE_ADDRESS: z.string().min(1).default("localhost:50051"),
    /**
     * How grpc-js spreads lookups over the addresses USER_SERVICE_ADDRESS resolves to: `pick_first`
     * for one address or a balancing proxy (the Envoy sidecar's outbound listener), `round_robin`
     * for `dns:///<headless Service>:<port>` when no sidecar balances.
     */
    USER_SERVICE_LB_POLICY: z.enum(["pick_first", "round_robin"]).default("pick_first"),
    /** How long a user the user service confirmed is trusted without asking again. */
    USER_CACHE_TTL_MS: integer(0, 24 * 3600 * 1000).default(30_000),
    /**
     * While the user service cannot be reached, users it confirmed within this window may still send
     * and join; anyone else is refused with UNAVAILABLE.
     */
    USER_OUTAGE_GRACE_MS: integer(0, 7 * 24 * 3600 * 1000).default(10 * 60 * 1000),
    /** The longest a user lookup may take; a caller's shorter deadline wins. */
    USER_LOOKUP_TIMEOUT_MS: integer(1, 60_000).default(2000),
    /** Browser origins allowed to call over gRPC-Web and Connect (comma-separated); `*` for any, empty for none. */
    CORS_ORIGINS: originListSchema.default([]),
    /** Events queued for one subscriber at most; past it the subscriber's stream ends RESOURCE_EXHAUSTED. */
    SUBSCRIBER_BUFFER: integer(1, 1_000_000).default(1024),
  })
  // DATABASE_URL (PostgreSQL: the log and the cross-replica bus; wins over DATABASE_PATH) and its pool.
  .extend(postgresEnvShape)
  // Metrics, tracing, rate limits and authentication: the call pipeline every server shares.
  .extend(callPipelineEnvShape)
  .superRefine(checkAuthEnv);

/** The validated chat configuration. */
export type ChatConfig = z.infer<typeof chatEnvSchema>;

/** Reads and validates the environment once; throws ConfigError naming every bad variable. */
export function loadChatConfig(env: NodeJS.ProcessEnv = process.env): Readonly<ChatConfig> {
  return loadConfig(chatEnvSchema, env);
}
