import { SignJWT } from "jose";

/** The issuer `polyrpc token` puts in its tokens unless told otherwise; set AUTH_ISSUER to match. */
export const DEVELOPMENT_ISSUER = "polyrpc-dev";
/** The audience `polyrpc token` puts in its tokens unless told otherwise; set AUTH_AUDIENCE to match. */
export const DEVELOPMENT_AUDIENCE = "polyrpc";
/** Shortest HS256 secret, in bytes, the services accept. */
export const MIN_SECRET_BYTES = 32;

export interface DevelopmentTokenOptions {
  /** The services' AUTH_HS256_SECRET, at least 32 bytes. */
  secret: string | Uint8Array;
  /** The `sub` claim: the caller's user id. */
  subject: string;
  /** The `roles` claim (default `["user"]`); `admin` may delete users. */
  roles?: readonly string[];
  /** Lifetime in seconds (default one hour). */
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
  /** The issue time (default now). */
  now?: Date;
}

/**
 * Mints an HS256 JWT the services accept in `AUTH_MODE=hs256`: `sub`, `roles`, `iss`, `aud`, `iat`
 * and `exp`. For local development and tests; deployments take tokens from their identity provider.
 */
export async function mintDevelopmentToken(options: DevelopmentTokenOptions): Promise<string> {
  const secret = typeof options.secret === "string" ? new TextEncoder().encode(options.secret) : options.secret;
  if (secret.byteLength < MIN_SECRET_BYTES)
    throw new RangeError(`the secret must be at least ${MIN_SECRET_BYTES} bytes`);
  if (options.subject === "") throw new RangeError("the subject must not be empty");
  const ttlSeconds = options.ttlSeconds ?? 3600;
  if (!(Number.isInteger(ttlSeconds) && ttlSeconds > 0))
    throw new RangeError("the lifetime must be a positive number of seconds");
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ roles: [...(options.roles ?? ["user"])] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.subject)
    .setIssuer(options.issuer ?? DEVELOPMENT_ISSUER)
    .setAudience(options.audience ?? DEVELOPMENT_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ttlSeconds)
    .sign(secret);
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** `90`, `45s`, `30m`, `1h` or `7d` in seconds; undefined for anything else. */
export function parseTtl(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[(match[2] || "s") as keyof typeof UNIT_SECONDS];
}
