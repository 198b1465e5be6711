import { createCallValueKey, type CallValueKey } from "../call-hooks.js";
import { PermissionDeniedError, UnauthenticatedError } from "../errors.js";

/** Who is calling, as their verified bearer token says. */
export interface Principal {
  /** The token's `sub` claim: the caller's user id. */
  readonly subject: string;
  /** The token's `roles` claim; empty when the token has none. */
  readonly roles: readonly string[];
  /** The token's `exp` claim. */
  readonly expiresAt: Date;
}

/** The call value `authHook` sets on every call it lets through; undefined when auth is off. */
export const PRINCIPAL: CallValueKey<Principal | undefined> = createCallValueKey<Principal | undefined>(
  "polyrpc.principal",
  undefined,
);

/** What reads call values: the kit's CallContext (either runtime), or anything with `values`. */
export interface CallValuesContext {
  readonly values: { get<T>(key: CallValueKey<T>): T };
}

/** The caller's principal, or undefined when no auth hook ran (auth is off). */
export function principalOf(ctx: CallValuesContext): Principal | undefined {
  return ctx.values.get(PRINCIPAL);
}

/**
 * Returns the caller's principal when it has `role`; throws PermissionDeniedError when it does
 * not, and UnauthenticatedError when the call carries no principal at all (no auth hook ran).
 */
export function requireRole(ctx: CallValuesContext, role: string): Principal {
  const principal = principalOf(ctx);
  if (!principal) throw new UnauthenticatedError(`this call needs a bearer token with role ${role}`);
  if (!principal.roles.includes(role)) throw new PermissionDeniedError(`role ${role} is required`);
  return principal;
}
