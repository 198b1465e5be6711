import { z } from "zod";
import { callPipelineEnvShape, checkAuthEnv, loadConfig, portSchema, serverEnvSchema } from "@polyrpc/server-kit";
import { postgresEnvShape } from "@polyrpc/server-kit/postgres";

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
  })
  // DATABASE_URL (PostgreSQL, which then wins over DATABASE_PATH) and its pool settings.
  .extend(postgresEnvShape)
  // Metrics, tracing, rate limits and authentication: the call pipeline every server shares.
  .extend(callPipelineEnvShape)
  .extend({
    /** CreateUsers takes up to 1,000 users in one call: let one such call through at once. */
    RATE_LIMIT_MESSAGES_PER_S: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  })
  .superRefine(checkAuthEnv);

export type UserServiceConfig = z.infer<typeof userServiceEnvSchema>;

/** Reads and validates the environment once; throws ConfigError naming every bad variable. */
export function loadUserServiceConfig(env: NodeJS.ProcessEnv = process.env): Readonly<UserServiceConfig> {
  return loadConfig(userServiceEnvSchema, env);
}
