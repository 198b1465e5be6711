import { z } from "zod";
import type { CallHook } from "../call-hooks.js";
import { ConfigError } from "../config.js";
import type { Logger } from "../logger.js";
import { authHook } from "./auth-hook.js";
import { isAllowedJwksUrl } from "./key-set.js";
import { JWKS_ALGORITHMS, MIN_HS256_SECRET_BYTES, type JwksAlgorithm } from "./token-verifier.js";

/**
 * The authentication variables. Extend an app's schema with `authEnvSchema.shape` and then
 * `.superRefine(checkAuthEnv)`: the checks that span several variables (which ones a mode needs)
 * live in `checkAuthEnv`, so that they survive the merge.
 */
const authEnvFields = z.object({
  /**
   * `development` or `production` (default). In production AUTH_MODE must be set explicitly; in
   * development it defaults to `off`.
   */
  POLYRPC_ENV: z.enum(["development", "production"]).default("production"),
  /** `off` (no authentication), `hs256` (shared secret, local use) or `jwks` (an identity provider's public keys). */
  AUTH_MODE: z.enum(["off", "hs256", "jwks"]).optional(),
  /** The HS256 shared secret, at least 32 bytes (AUTH_MODE=hs256). */
  AUTH_HS256_SECRET: z
    .string()
    .refine((s) => Buffer.byteLength(s) >= MIN_HS256_SECRET_BYTES, `must be at least ${MIN_HS256_SECRET_BYTES} bytes`)
    .optional(),
  /** A JWKS file (AUTH_MODE=jwks), re-read when a token names an unknown `kid`. */
  AUTH_JWKS_FILE: z.string().min(1).optional(),
  /** A JWKS URL (AUTH_MODE=jwks): https, or http on localhost only. Cached; refetched for an unknown `kid`. */
  AUTH_JWKS_URL: z.string().refine(isAllowedJwksUrl, "must be an https URL (http only on localhost)").optional(),
  /** The signing algorithms accepted in jwks mode, comma-separated: RS256, ES256 or both (default). */
  AUTH_ALGORITHMS: z
    .string()
    .transform((value, ctx) => {
      const algorithms = value
        .split(",")
        .map((a) => a.trim())
        .filter((a) => a !== "");
      if (algorithms.length === 0 || !algorithms.every(isJwksAlgorithm)) {
        ctx.addIssue({ code: "custom", message: "must be RS256, ES256 or RS256,ES256" });
        return z.NEVER;
      }
      return algorithms;
    })
    .default([...JWKS_ALGORITHMS]),
  /** The only token issuer (`iss`) accepted; required unless AUTH_MODE=off. */
  AUTH_ISSUER: z.string().min(1).optional(),
  /** The audience (`aud`) a token must name; required unless AUTH_MODE=off. */
  AUTH_AUDIENCE: z.string().min(1).optional(),
  /** Leeway for the tokens' `exp` and `nbf`, in seconds. */
  AUTH_CLOCK_SKEW_S: z.coerce.number().int().min(0).max(600).default(60),
});

function isJwksAlgorithm(name: string): name is JwksAlgorithm {
  return (JWKS_ALGORITHMS as readonly string[]).includes(name);
}

/** The validated authentication variables. */
export type AuthEnv = z.infer<typeof authEnvFields>;

/** The authentication mode in effect: AUTH_MODE, or `off` in development when it is unset. */
export function authModeOf(env: AuthEnv): "off" | "hs256" | "jwks" | undefined {
  return env.AUTH_MODE ?? (env.POLYRPC_ENV === "development" ? "off" : undefined);
}

/** What is wrong across the variables, each naming its variable. */
function authEnvProblems(env: AuthEnv): { variable: keyof AuthEnv; message: string }[] {
  const problems: { variable: keyof AuthEnv; message: string }[] = [];
  const mode = authModeOf(env);
  if (mode === undefined) {
    problems.push({
      variable: "AUTH_MODE",
      message: "must be set when POLYRPC_ENV is production: hs256, jwks, or off to serve without authentication",
    });
  }
  if (mode === "hs256" && env.AUTH_HS256_SECRET === undefined) {
    problems.push({ variable: "AUTH_HS256_SECRET", message: "is required when AUTH_MODE is hs256" });
  }
  if (mode === "jwks") {
    if (env.AUTH_JWKS_FILE === undefined && env.AUTH_JWKS_URL === undefined) {
      problems.push({ variable: "AUTH_JWKS_URL", message: "or AUTH_JWKS_FILE is required when AUTH_MODE is jwks" });
    }
    if (env.AUTH_JWKS_FILE !== undefined && env.AUTH_JWKS_URL !== undefined) {
      problems.push({ variable: "AUTH_JWKS_URL", message: "and AUTH_JWKS_FILE are exclusive; set one" });
    }
  }
  if (mode === "hs256" || mode === "jwks") {
    for (const variable of ["AUTH_ISSUER", "AUTH_AUDIENCE"] as const) {
      if (env[variable] === undefined) problems.push({ variable, message: `is required when AUTH_MODE is ${mode}` });
    }
  }
  return problems;
}

/** The cross-variable checks of `authEnvSchema`, for `.superRefine` on an app schema that merged its shape. */
export function checkAuthEnv(env: AuthEnv, ctx: z.RefinementCtx): void {
  for (const { variable, message } of authEnvProblems(env)) {
    ctx.addIssue({ code: "custom", path: [variable], message });
  }
}

/** The authentication variables with their cross-variable checks. */
export const authEnvSchema = authEnvFields.superRefine(checkAuthEnv);

export interface AuthHookFromConfigOptions {
  /** Start-up lines (the mode in effect) and JWKS load failures go here. */
  log?: Logger;
  /** Least time between JWKS reloads for an unknown `kid`, in milliseconds (default 30 s). */
  jwksReloadCooldownMs?: number;
}

/**
 * The auth hook the configuration asks for: a no-op when the mode is `off`. Throws ConfigError if
 * the variables are inconsistent (when the app schema skipped `checkAuthEnv`).
 */
export function authHookFromConfig(config: AuthEnv, options: AuthHookFromConfigOptions = {}): CallHook {
  const problems = authEnvProblems(config);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${p.variable}: ${p.message}`));
  const { log } = options;
  const mode = authModeOf(config)!;
  const common = {
    issuer: config.AUTH_ISSUER!,
    audience: config.AUTH_AUDIENCE!,
    clockSkewSeconds: config.AUTH_CLOCK_SKEW_S,
  };
  switch (mode) {
    case "off":
      if (config.POLYRPC_ENV === "production")
        log?.warn("authentication is off (AUTH_MODE=off): every caller is trusted");
      else log?.info("authentication is off (POLYRPC_ENV=development)");
      return { start() {} };
    case "hs256":
      log?.info({ issuer: common.issuer, audience: common.audience }, "authenticating HS256 bearer tokens");
      if (config.POLYRPC_ENV === "production") {
        log?.warn("AUTH_MODE=hs256 shares one secret between every issuer and verifier; prefer jwks in production");
      }
      return authHook({ mode, secret: config.AUTH_HS256_SECRET!, ...common });
    case "jwks": {
      const jwks =
        config.AUTH_JWKS_FILE !== undefined ? { file: config.AUTH_JWKS_FILE } : { url: config.AUTH_JWKS_URL! };
      const algorithms: JwksAlgorithm[] = config.AUTH_ALGORITHMS;
      log?.info(
        { ...jwks, algorithms, issuer: common.issuer, audience: common.audience },
        "authenticating JWKS bearer tokens",
      );
      return authHook({
        mode,
        jwks,
        algorithms,
        ...common,
        ...(options.jwksReloadCooldownMs !== undefined && { reloadCooldownMs: options.jwksReloadCooldownMs }),
        onLoadError: (err) => log?.warn({ err, ...jwks }, "cannot load the JWKS; keeping the keys already loaded"),
      });
    }
  }
}
