import { UnauthenticatedError } from "../errors.js";

/** Longest bearer token accepted, in bytes; longer ones are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;

// RFC 6750 section 2.1: the scheme is case-insensitive, then one or more spaces and the b64token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The token of an `authorization: Bearer <token>` header. Throws UnauthenticatedError when the
 * header is missing, is not a bearer credential, or is longer than MAX_TOKEN_BYTES. Messages never
 * include the header's value.
 */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header === "") {
    throw new UnauthenticatedError("this call needs a bearer token in the authorization header");
  }
  // Checked on the whole header so that an oversized value is never run through the pattern.
  if (header.length > MAX_TOKEN_BYTES + 64) {
    throw new UnauthenticatedError(`the bearer token is longer than ${MAX_TOKEN_BYTES} bytes`);
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) throw new UnauthenticatedError('the authorization header must be "Bearer <token>"');
  if (token.length > MAX_TOKEN_BYTES) {
    throw new UnauthenticatedError(`the bearer token is longer than ${MAX_TOKEN_BYTES} bytes`);
  }
  return token;
}
