import {
  type ChannelOptions,
  createGrpcClient,
  type GrpcClient,
  isServiceError,
  Metadata,
  status as Status,
} from "@polyrpc/grpc-client";
import { UserService } from "@polyrpc/proto";
import {
  CancelledError,
  DeadlineExceededError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
} from "@polyrpc/server-kit";

/** The user id names no UserService user. */
export class UnknownUserError extends NotFoundError {
  override readonly name = "UnknownUserError";
  constructor(readonly userId: string) {
    super(`user "${userId}" not found`);
  }
}

/** The user service cannot be reached or failed; the caller may retry. */
export class UserServiceUnavailableError extends UnavailableError {
  override readonly name = "UserServiceUnavailableError";
}

/**
 * The caller's own deadline passed while the chat service waited on the user service.
 * (The kit has the `deadline-exceeded` kind but no class for it yet.)
 */

/** What a lookup inherits from the RPC that needs it. */
export interface UserLookupCall {
  /** The caller's cancellation: aborting cancels the lookup. */
  signal?: AbortSignal | undefined;
  /** The caller's remaining time in milliseconds; unset when it has no deadline. */
  timeoutMs?: number | undefined;
  /** W3C trace context of the caller, forwarded as gRPC metadata. */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  /**
   * The caller's `authorization` header, forwarded as is so that the user service authenticates
   * the lookup as the caller (who must be allowed to read the user).
   */
  authorization?: string | undefined;
}

/** Answers whether a user id names a real user, for the chat's joins and sends. */
export interface UserDirectory {
  /**
   * Resolves when the user exists. Throws UnknownUserError (NOT_FOUND) for an unknown id,
   * UserServiceUnavailableError (UNAVAILABLE) when the user service cannot answer in time,
   * DeadlineExceededError when the caller's own deadline runs out first, CancelledError when the
   * caller cancels.
   */
  ensureUser(userId: string, call: UserLookupCall): Promise<void>;
  /**
   * True when the user service confirmed this user recently (within the outage grace), so that
   * members keep chatting while the user service is down.
   */
  isKnownRecently(userId: string): boolean;
}

/** Options of `GrpcUserDirectory`. */
export interface GrpcUserDirectoryOptions {
  /** `host:port` of the UserService, or a grpc-js target such as `dns:///host:port`. */
  address: string;
  /** grpc-js balancing over the target's addresses; `pick_first` when omitted. */
  loadBalancingPolicy?: "pick_first" | "round_robin";
  /** Positive answers are trusted this long without asking again (0 = always ask). */
  cacheTtlMs: number;
  /** `isKnownRecently` holds this long after the last positive answer. */
  outageGraceMs: number;
  /** The longest one lookup may take; a caller's shorter remaining time wins. */
  lookupTimeoutMs: number;
  /** grpc-js channel options (reconnect backoff, keepalive). */
  channelOptions?: ChannelOptions;
  /** Milliseconds since the epoch; tests pin it. */
  now?: () => number;
}

/** Reconnect quickly after an outage: lookups are short and a user service restart is common. */
const DEFAULT_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 5000,
  "grpc.keepalive_time_ms": 60_000,
};

/**
 * A UserDirectory backed by `UserService.GetUser` over grpc-js. Each lookup gets the smaller of
 * the caller's remaining time and `lookupTimeoutMs` as its deadline, carries the caller's trace
 * context and cancellation, and positive answers are cached for `cacheTtlMs`.
 */
export class GrpcUserDirectory implements UserDirectory {
  private readonly client: GrpcClient<typeof UserService>;
  /** When each user was last confirmed, in ms since the epoch. Map order = confirmation order. */
  private readonly confirmed = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: GrpcUserDirectoryOptions) {
    this.now = options.now ?? Date.now;
    // round_robin keeps a subchannel to every address DNS returns and sends each lookup to the next.
    const balancing = options.loadBalancingPolicy
      ? { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ [options.loadBalancingPolicy]: {} }] }) }
      : {};
    this.client = createGrpcClient(UserService, options.address, {
      channelOptions: { ...DEFAULT_CHANNEL_OPTIONS, ...balancing, ...options.channelOptions },
    });
  }

  async ensureUser(userId: string, call: UserLookupCall): Promise<void> {
    const confirmedAt = this.confirmed.get(userId);
    if (confirmedAt !== undefined && this.now() - confirmedAt < this.options.cacheTtlMs) return;

    const callerBound = call.timeoutMs !== undefined && call.timeoutMs <= this.options.lookupTimeoutMs;
    const timeoutMs = Math.min(call.timeoutMs ?? Infinity, this.options.lookupTimeoutMs);
    if (timeoutMs <= 0) throw new DeadlineExceededError(`the deadline passed before user "${userId}" was checked`);
    if (call.signal?.aborted) throw new CancelledError("the call was cancelled");

    const startedAt = Date.now();
    const metadata = new Metadata();
    if (call.traceparent) metadata.set("traceparent", call.traceparent);
    if (call.tracestate) metadata.set("tracestate", call.tracestate);
    if (call.authorization) metadata.set("authorization", call.authorization);
    try {
      await this.client.methods.getUser({ id: userId }, { timeoutMs, metadata, signal: call.signal });
    } catch (err) {
      if (!isServiceError(err)) throw err;
      switch (err.code) {
        case Status.NOT_FOUND:
        // The user service refuses ids no user can have; to the chat they are unknown users.
        case Status.INVALID_ARGUMENT:
          this.confirmed.delete(userId);
          throw new UnknownUserError(userId);
        case Status.UNAUTHENTICATED:
          // The caller's own token was refused (it expired, or the chat forwarded none).
          throw new UnauthenticatedError(`the user service refused the caller's credentials (${err.details})`);
        case Status.DEADLINE_EXCEEDED:
          if (callerBound) throw new DeadlineExceededError(`the deadline passed while checking user "${userId}"`);
          throw new UserServiceUnavailableError(
            `the user service did not answer within ${this.options.lookupTimeoutMs} ms; try again`,
          );
        case Status.CANCELLED:
          if (call.signal?.aborted) {
            // The caller's own deadline aborts its signal too; name the real reason.
            if (callerBound && Date.now() >= startedAt + timeoutMs) {
              throw new DeadlineExceededError(`the deadline passed while checking user "${userId}"`);
            }
            throw new CancelledError("the call was cancelled");
          }
          throw new UserServiceUnavailableError("the user service cancelled the lookup; try again");
        default:
          throw new UserServiceUnavailableError(`the user service cannot be reached (${Status[err.code]}); try again`);
      }
    }
    this.remember(userId);
  }

  isKnownRecently(userId: string): boolean {
    const confirmedAt = this.confirmed.get(userId);
    return confirmedAt !== undefined && this.now() - confirmedAt < this.options.outageGraceMs;
  }

  /** Closes the channel to the user service. */
  close(): void {
    this.client.close();
  }

  private remember(userId: string): void {
    const now = this.now();
    // Re-insert so the map stays ordered by confirmation time, then forget what nobody may use.
    this.confirmed.delete(userId);
    this.confirmed.set(userId, now);
    const keepMs = Math.max(this.options.cacheTtlMs, this.options.outageGraceMs);
    for (const [id, at] of this.confirmed) {
      if (now - at < keepMs) break;
      this.confirmed.delete(id);
    }
  }
}
