export { limitsEnvSchema, type LimitsEnv } from "./config.js";
export { rateLimitHook, rateLimitsFromEnv, subjectOf, type RateLimitOptions } from "./rate-limit-hook.js";
export { IdleMap, TokenBucket } from "./token-bucket.js";
