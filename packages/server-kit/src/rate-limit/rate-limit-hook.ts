import { createHash } from "node:crypto";
import type { CallHook, CallInfo } from "../call-hooks.js";
import { ResourceExhaustedError } from "../errors.js";
import type { LimitsEnv } from "./config.js";
import { IdleMap, TokenBucket } from "./token-bucket.js";

export interface RateLimitOptions {
  /** Unary calls per second per subject; 0 = no limit. */
  unaryPerSecond: number;
  /** New streams (server, client and bidi streaming calls) per second per subject; 0 = no limit. */
  streamsPerSecond: number;
  /** Request messages per second on one client or bidi stream; 0 = no limit. */
  messagesPerSecond: number;
  /**
   * Who the call counts against. With authentication, the principal the auth hook attached, e.g.
   * `(call) => call.get(PRINCIPAL)?.subject`; when it returns undefined, `subjectOf(call)` decides.
   */
  subject?: (call: CallInfo) => string | undefined;
  /** Subjects tracked at most; past it the least recently seen is forgotten. Default 100,000. */
  maxSubjects?: number;
  /** The clock, in milliseconds (tests freeze it). `performance.now` by default. */
  now?: () => number;
}

/** The hook's options from the validated RATE_LIMIT_* variables. */
export function rateLimitsFromEnv(
  env: LimitsEnv,
): Pick<RateLimitOptions, "unaryPerSecond" | "streamsPerSecond" | "messagesPerSecond"> {
  return {
    unaryPerSecond: env.RATE_LIMIT_UNARY_PER_S,
    streamsPerSecond: env.RATE_LIMIT_STREAMS_PER_S,
    messagesPerSecond: env.RATE_LIMIT_MESSAGES_PER_S,
  };
}

/**
 * The default subject of a call, from what every call carries in its headers:
 * - `auth:<hash>` of the `authorization` header when there is one (the same credential is the
 *   same caller; the token itself is never kept);
 * - else `ip:<address>`, the last `x-forwarded-for` entry: the address the nearest proxy (the
 *   Envoy sidecar, which appends the peer's address) saw; earlier entries are the client's own
 *   claims and could be forged;
 * - else `anonymous`: without a proxy or credentials all such callers share one budget (the hooks
 *   see headers, not the connection's peer).
 */
export function subjectOf(call: CallInfo): string {
  const authorization = call.header("authorization");
  if (authorization) return `auth:${createHash("sha256").update(authorization).digest("base64url").slice(0, 22)}`;
  const forwarded = call.header("x-forwarded-for")?.split(",").at(-1)?.trim();
  if (forwarded) return `ip:${forwarded}`;
  return "anonymous";
}

interface SubjectBuckets {
  unary?: TokenBucket;
  streams?: TokenBucket;
}

/**
 * Rate limits per subject (S4) with token buckets, each holding one second's worth of tokens (the
 * burst) and refilling continuously: unary calls per second and new streams per second per
 * subject, and request messages per second on each client or bidi stream. A call or message past
 * its limit fails with RESOURCE_EXHAUSTED naming the limit; other subjects are unaffected. (The
 * messages avoid `:`, `;` and `,`: grpc-js clients decode connect-node's grpc-message with
 * `decodeURI`, which leaves those percent-encoded.)
 *
 * Memory is bounded: a subject's buckets are dropped once idle long enough to be full again
 * (lossless), and at most `maxSubjects` are kept. A stream's message bucket lives with the call.
 * Put it after the auth hook so that `subject` can read the principal.
 */
export function rateLimitHook(options: RateLimitOptions): CallHook {
  const { unaryPerSecond, streamsPerSecond, messagesPerSecond } = options;
  const now = options.now ?? (() => performance.now());
  const pickSubject = options.subject ?? (() => undefined);
  const capacity = (rate: number) => Math.max(1, rate);
  const idleMs = Math.max(
    unaryPerSecond ? (capacity(unaryPerSecond) / unaryPerSecond) * 1000 : 0,
    streamsPerSecond ? (capacity(streamsPerSecond) / streamsPerSecond) * 1000 : 0,
  );
  const subjects = new IdleMap<SubjectBuckets>(idleMs, options.maxSubjects ?? 100_000);

  return {
    start(call) {
      const streaming = call.kind !== "unary";
      const rate = streaming ? streamsPerSecond : unaryPerSecond;
      if (rate > 0) {
        const subject = pickSubject(call) ?? subjectOf(call);
        const t = now();
        const buckets = subjects.touch(subject, t, () => ({}));
        const bucket = streaming
          ? (buckets.streams ??= new TokenBucket(rate, capacity(rate), t))
          : (buckets.unary ??= new TokenBucket(rate, capacity(rate), t));
        if (!bucket.take(t)) {
          throw new ResourceExhaustedError(
            streaming
              ? `new stream rate limit exceeded (at most ${rate} per second per caller). Retry later.`
              : `unary call rate limit exceeded (at most ${rate} per second per caller). Retry later.`,
          );
        }
      }
      const clientStreams = call.kind === "client_streaming" || call.kind === "bidi_streaming";
      if (!clientStreams || messagesPerSecond <= 0) return;
      const messages = new TokenBucket(messagesPerSecond, capacity(messagesPerSecond), now());
      return {
        request() {
          if (!messages.take(now())) {
            throw new ResourceExhaustedError(
              `message rate limit exceeded (at most ${messagesPerSecond} per second on one stream). Send more slowly.`,
            );
          }
        },
      };
    },
  };
}
