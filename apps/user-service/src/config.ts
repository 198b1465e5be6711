import { availableParallelism } from "node:os";
import { z } from "zod";
import { callPipelineEnvShape, checkAuthEnv, loadConfig, portSchema, serverEnvSchema } from "@polyrpc/server-kit";
import { postgresEnvShape } from "@polyrpc/server-kit/postgres";

/** The most workers WORKERS may ask for. */
export const MAX_WORKERS = 1024;

/** Every environment variable the user service reads; nothing else touches process.env. */
export const userServiceEnvSchema = serverEnvSchema
  .extend({
    PORT: portSchema.default(50051),
    /** SQLite database file; `:memory:` keeps everything in memory (tests). Unused with DATABASE_URL. */
    DATABASE_PATH: z.string().min(1).default("./data/user-service.db"),
    /** scrypt cost parameter N for password hashes: a power of two. */
    PASSWORD_HASH_COST: z.coerce
      .number()
      .int()
      .min(1024)
      .max(1_048_576)
      .refine((n) => (n & (n - 1)) === 0, "must be a power of two")
      .default(16_384),
    /**
     * Processes serving PORT: 1 is one process (no cluster); N > 1 makes this process a primary
     * that migrates the store once and forks N workers sharing the port (src/cluster.ts); `auto`
     * is os.availableParallelism().
     */
    WORKERS: z
      .string()
      .transform((value, ctx) => {
        if (value === "auto") return availableParallelism();
        const n = Number(value);
        if (/^\d+$/.test(value) && n >= 1 && n <= MAX_WORKERS) return n;
        ctx.addIssue({ code: "custom", message: `must be an integer from 1 to ${MAX_WORKERS}, or "auto"` });
        return z.NEVER;
      })
      .default(1),
  })
  // DATABASE_URL (PostgreSQL, which then wins over DATABASE_PATH) and its pool settings.
  .extend(postgresEnvShape)
  // Metrics, tracing, rate limits and authentication: the call pipeline every server shares.
  .extend(callPipelineEnvShape)
  .extend({
    /** CreateUsers takes up to 1,000 users in one call: let one such call through at once. */
    RATE_LIMIT_MESSAGES_PER_S: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  })
  .superRefine(checkAuthEnv)
  .superRefine((env, ctx) => {
    // Workers share the store through the database; in memory, each would have its own users.
    if (env.WORKERS > 1 && !env.DATABASE_URL && env.DATABASE_PATH === ":memory:") {
      ctx.addIssue({
        code: "custom",
        path: ["WORKERS"],
        message:
          "more than one worker needs a shared store: a SQLite file (DATABASE_PATH) or DATABASE_URL, not :memory:",
      });
    }
  });

export type UserServiceConfig = z.infer<typeof userServiceEnvSchema>;

/** Reads and validates the environment once; throws ConfigError naming every bad variable. */
export function loadUserServiceConfig(env: NodeJS.ProcessEnv = process.env): Readonly<UserServiceConfig> {
  return loadConfig(userServiceEnvSchema, env);
}
