import { z } from "zod";

const perSecond = (fallback: number) => z.coerce.number().int().min(0).max(1_000_000).default(fallback);

/**
 * The per-subject rate limits (S4); apps extend their schema with it
 * (`serverEnvSchema.extend(limitsEnvSchema.shape)`). 0 turns a limit off.
 */
export const limitsEnvSchema = z.object({
  /** Unary calls per second per subject. */
  RATE_LIMIT_UNARY_PER_S: perSecond(100),
  /** New streams (server, client and bidi streaming calls) per second per subject. */
  RATE_LIMIT_STREAMS_PER_S: perSecond(20),
  /** Request messages per second on one client or bidi stream. */
  RATE_LIMIT_MESSAGES_PER_S: perSecond(100),
});

export type LimitsEnv = z.infer<typeof limitsEnvSchema>;
