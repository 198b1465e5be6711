import { errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from "jose";
import { isDomainError, UnauthenticatedError } from "../errors.js";
import { KeySet, type JwksSource, type KeySetOptions } from "./key-set.js";
import type { Principal } from "./principal.js";

/** The asymmetric algorithms a JWKS setup may accept. */
export const JWKS_ALGORITHMS = ["RS256", "ES256"] as const;
export type JwksAlgorithm = (typeof JWKS_ALGORITHMS)[number];

/** Shortest HS256 secret accepted, in bytes (RFC 7518 section 3.2: at least the hash size). */
export const MIN_HS256_SECRET_BYTES = 32;

interface CommonTokenOptions {
  /** The only `iss` accepted. */
  issuer: string;
  /** The `aud` a token must name. */
  audience: string;
  /** Leeway for `exp` and `nbf`, in seconds (default 60). */
  clockSkewSeconds?: number;
}

/** Tokens signed with a shared secret, HS256 only: for local development and tests. */
export interface Hs256TokenOptions extends CommonTokenOptions {
  mode: "hs256";
  /** At least 32 bytes. */
  secret: string | Uint8Array;
}

/** Tokens signed by an identity provider whose public keys are published as a JWKS. */
export interface JwksTokenOptions extends CommonTokenOptions, KeySetOptions {
  mode: "jwks";
  jwks: JwksSource;
  /** The algorithms accepted (default both RS256 and ES256); nothing else ever is. */
  algorithms?: readonly JwksAlgorithm[];
}

export type TokenOptions = Hs256TokenOptions | JwksTokenOptions;

/** Checks bearer tokens and turns them into principals. */
export interface TokenVerifier {
  /**
   * Resolves with the token's principal; throws UnauthenticatedError naming what is wrong with the
   * token (never the token), or UnavailableError when the signing keys cannot be loaded.
   */
  verify(token: string): Promise<Principal>;
  /** The leeway, in seconds, `verify` gives `exp` and `nbf`. */
  readonly clockSkewSeconds: number;
}

/** Creates the verifier for `options`; throws at once on an unusable secret or JWKS URL. */
export function createTokenVerifier(options: TokenOptions): TokenVerifier {
  const clockSkewSeconds = options.clockSkewSeconds ?? 60;
  const verifyOptions: JWTVerifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    clockTolerance: clockSkewSeconds,
    requiredClaims: ["sub", "exp"],
  };
  let verify: (token: string) => Promise<JWTPayload>;
  if (options.mode === "hs256") {
    const secret = typeof options.secret === "string" ? new TextEncoder().encode(options.secret) : options.secret;
    if (secret.byteLength < MIN_HS256_SECRET_BYTES) {
      throw new Error(`the HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes`);
    }
    const algorithms = ["HS256"];
    verify = async (token) => (await jwtVerify(token, secret, { ...verifyOptions, algorithms })).payload;
  } else {
    const algorithms = [...(options.algorithms ?? JWKS_ALGORITHMS)];
    if (algorithms.length === 0 || algorithms.some((a) => !JWKS_ALGORITHMS.includes(a))) {
      throw new Error(`the JWKS algorithms must be some of ${JWKS_ALGORITHMS.join(", ")}`);
    }
    const keys = new KeySet(options.jwks, options);
    verify = async (token) => (await jwtVerify(token, keys.getKey, { ...verifyOptions, algorithms })).payload;
  }

  return {
    clockSkewSeconds,
    async verify(token) {
      let payload: JWTPayload;
      try {
        payload = await verify(token);
      } catch (err) {
        if (isDomainError(err)) throw err;
        throw new UnauthenticatedError(refusal(err));
      }
      return toPrincipal(payload);
    },
  };
}

/** What is wrong with a token jose refused, in words for the caller. */
function refusal(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "the token expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "iss":
        return "the token was not issued by the expected issuer";
      case "aud":
        return "the token is not meant for this audience";
      case "nbf":
        return "the token is not valid yet";
      default:
        return err.reason === "missing"
          ? `the token has no "${err.claim}" claim`
          : `the token's "${err.claim}" claim is not valid`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return "the token's signing algorithm is not accepted";
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the token's signature is not valid";
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return "the token's signing key is not known";
  }
  // JWSInvalid, JWTInvalid, and the TypeErrors jose throws for claims of the wrong type.
  return "the bearer token is not a valid JWT";
}

function toPrincipal(payload: JWTPayload): Principal {
  const roles = payload["roles"] ?? [];
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === "string")) {
    throw new UnauthenticatedError('the token\'s "roles" claim must be an array of strings');
  }
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw new UnauthenticatedError('the token has no "sub" claim');
  }
  return Object.freeze({
    subject: payload.sub,
    roles: Object.freeze([...roles]),
    expiresAt: new Date(payload.exp! * 1000),
  });
}
