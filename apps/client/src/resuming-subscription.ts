import { type CallOptions, isServiceError, status } from "@polyrpc/grpc-client";
import { chatV1 } from "@polyrpc/proto";
import type { ChatServiceClient } from "./connect-chat-service.js";

/** How a broken subscription waits before it tries again: exponential, capped, with full jitter. */
export interface ReconnectBackoff {
  /** The cap of the first wait, in milliseconds. */
  initialMs: number;
  /** The largest cap, in milliseconds. */
  maxMs: number;
  multiplier: number;
  /** Gives up after this many attempts in a row that received nothing (Infinity: never). */
  maxAttempts: number;
}

export const DEFAULT_RECONNECT_BACKOFF: Readonly<ReconnectBackoff> = Object.freeze({
  initialMs: 100,
  maxMs: 5000,
  multiplier: 2,
  maxAttempts: Infinity,
});

/**
 * The statuses after which a subscription resumes: the replica went away or could not be reached
 * (UNAVAILABLE), or the service ended a subscriber that fell too far behind (RESOURCE_EXHAUSTED).
 * Anything else (bad room, no permission, a deadline) is the caller's to handle.
 */
const RESUMABLE = new Set<number>([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED]);

/** Told before each wait: which attempt failed, with what, and how long until the next. */
export interface ResumeNotice {
  attempt: number;
  code: number;
  message: string;
  delayMs: number;
  /** The subscription goes on after this sequence (undefined: it never learned the room's latest). */
  afterSequence: bigint | undefined;
}

export interface ResumingSubscriptionOptions {
  room: string;
  /** "" watches without being announced. */
  userId?: string;
  /**
   * Start after this sequence (0: the whole history). Without it the subscription starts after the
   * room's latest message, so that a resume knows where "live" began.
   */
  afterSequence?: bigint;
  backoff?: Partial<ReconnectBackoff>;
  /** Ends the subscription (the current stream is cancelled). */
  signal?: AbortSignal;
  /** The deadline of the whole subscription, every attempt included: it ends with DEADLINE_EXCEEDED. */
  deadline?: Date;
  onResume?: (notice: ResumeNotice) => void;
  /** For tests: a random number in [0, 1). */
  random?: () => number;
}

/** The wait before attempt `attempt` (1-based): uniformly random up to the capped exponential. */
export function reconnectDelayMs(attempt: number, backoff: ReconnectBackoff, random = Math.random): number {
  const cap = Math.min(backoff.maxMs, backoff.initialMs * backoff.multiplier ** Math.max(0, attempt - 1));
  return Math.floor(random() * cap);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Subscribes to a room and keeps the subscription alive across replicas going away: when the
 * stream ends with UNAVAILABLE or RESOURCE_EXHAUSTED it waits a jittered, growing delay and
 * subscribes again after the last sequence it delivered, so every message arrives once and in
 * order. Presence events are passed through as they come; after a resume the service reports the
 * room's members again. The channel's load balancing decides which replica the next attempt
 * reaches.
 */
export async function* resumingSubscription(
  client: ChatServiceClient,
  options: ResumingSubscriptionOptions,
): AsyncGenerator<chatV1.SubscribeResponse> {
  const backoff = { ...DEFAULT_RECONNECT_BACKOFF, ...options.backoff };
  const { room, userId = "", signal } = options;
  let afterSequence = options.afterSequence;
  let failures = 0;
  while (!signal?.aborted) {
    const call: CallOptions = { ...(signal && { signal }), ...(options.deadline && { deadline: options.deadline }) };
    try {
      afterSequence ??= (await client.methods.getHistory({ room, limit: 1 }, call)).lastSequence;
      for await (const response of client.methods.subscribe({ room, userId, afterSequence }, call)) {
        const { event } = response;
        if (event.case === "message") {
          // A message at or below the resume point was already delivered before the reconnect.
          if (event.value.sequence <= afterSequence) continue;
          afterSequence = event.value.sequence;
        }
        failures = 0;
        yield response;
      }
      return;
    } catch (err) {
      if (signal?.aborted) return;
      if (!isServiceError(err) || !RESUMABLE.has(err.code)) throw err;
      failures += 1;
      if (failures >= backoff.maxAttempts) throw err;
      const delayMs = reconnectDelayMs(failures, backoff, options.random);
      options.onResume?.({ attempt: failures, code: err.code, message: err.details, delayMs, afterSequence });
      await sleep(delayMs, signal);
    }
  }
}
