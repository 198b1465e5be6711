export {
  authEnvSchema,
  authHookFromConfig,
  authModeOf,
  checkAuthEnv,
  type AuthEnv,
  type AuthHookFromConfigOptions,
} from "./auth-config.js";
export { authHook, type AuthHookOptions } from "./auth-hook.js";
export { bearerToken, MAX_TOKEN_BYTES } from "./bearer-token.js";
export { KeySet, type JwksSource, type KeySetOptions } from "./key-set.js";
export { PRINCIPAL, principalOf, requireRole, type CallValuesContext, type Principal } from "./principal.js";
export {
  createTokenVerifier,
  JWKS_ALGORITHMS,
  MIN_HS256_SECRET_BYTES,
  type Hs256TokenOptions,
  type JwksAlgorithm,
  type JwksTokenOptions,
  type TokenOptions,
  type TokenVerifier,
} from "./token-verifier.js";
