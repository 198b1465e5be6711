import type { CallHook } from "../call-hooks.js";
import { UnauthenticatedError } from "../errors.js";
import { bearerToken } from "./bearer-token.js";
import { PRINCIPAL } from "./principal.js";
import { createTokenVerifier, type TokenOptions } from "./token-verifier.js";

export type AuthHookOptions = TokenOptions;

/** Longest delay setTimeout takes; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Authenticates every call with its `authorization: Bearer <token>` header (a JWT; see
 * `TokenOptions` for what is checked). A call without a valid token is refused with
 * UNAUTHENTICATED before its handler runs; otherwise the caller's `Principal` is set as the
 * `PRINCIPAL` call value. A stream is ended with UNAUTHENTICATED ("the token expired") when its
 * token would no longer be accepted: at `exp` plus the clock skew. Health and reflection never
 * reach hooks, so they stay public.
 */
export function authHook(options: AuthHookOptions): CallHook {
  const verifier = createTokenVerifier(options);
  const graceMs = verifier.clockSkewSeconds * 1000;
  return {
    async start(call) {
      const principal = await verifier.verify(bearerToken(call.header("authorization")));
      call.set(PRINCIPAL, principal);
      if (call.kind === "unary") return;
      const cancel = runAt(principal.expiresAt.getTime() + graceMs, () =>
        call.abort(new UnauthenticatedError("the token expired")),
      );
      return { end: cancel };
    },
  };
}

/** Runs `task` at `time` (ms since the epoch), however far away; returns the cancel function. */
function runAt(time: number, task: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const delay = time - Date.now();
    timer = delay > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(task, Math.max(0, delay));
    // A pending expiry must not keep a stopping process alive.
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
