import { AlreadyExistsError, CancelledError, DeadlineExceededError, NotFoundError } from "@polyrpc/server-kit";

/** A user as storage holds it. `seq` orders users (oldest first) and is never reused. */
export interface StoredUser {
  seq: number;
  id: string;
  username: string;
  email: string;
  passwordHash: string;
  /** Unix seconds. */
  createdAt: number;
  roles: string[];
}

export type NewUser = Omit<StoredUser, "seq">;

export interface UserChanges {
  username?: string;
  email?: string;
}

export class UserNotFoundError extends NotFoundError {
  override readonly name = "UserNotFoundError";
  constructor(readonly id: string) {
    super(`user "${id}" not found`);
  }
}

export class DuplicateUserError extends AlreadyExistsError {
  override readonly name = "DuplicateUserError";
  constructor(
    readonly field: "username" | "email",
    readonly value: string,
  ) {
    super(`a user with ${field} "${value}" already exists`);
  }
}

/**
 * The call a store method works for: its deadline and the signal that fires when the caller goes
 * away. A store stops (or never starts) work for a call that ended, with DeadlineExceededError or
 * CancelledError, and writes nothing for it.
 */
export interface StoreCallOptions {
  deadline?: Date | undefined;
  signal?: AbortSignal | undefined;
}

/** Throws when the call has already ended: past its deadline, or cancelled. */
export function throwIfCallEnded(call: StoreCallOptions): void {
  if (call.deadline && call.deadline.getTime() <= Date.now()) {
    throw new DeadlineExceededError("the deadline passed before the user store was reached");
  }
  if (call.signal?.aborted) throw new CancelledError("the call was cancelled");
}

/**
 * Where users live. One implementation per backend; handlers never see SQL. Every method either
 * completes or changes nothing, and honours the deadline and cancellation of the call it serves.
 */
export interface UserStore {
  get(id: string, call?: StoreCallOptions): Promise<StoredUser>;
  /** Throws DuplicateUserError when the username or email is taken (case-insensitively). */
  create(user: NewUser, call?: StoreCallOptions): Promise<StoredUser>;
  /** Inserts all users in one transaction: all of them, or none on any error. */
  createMany(users: readonly NewUser[], call?: StoreCallOptions): Promise<StoredUser[]>;
  update(id: string, changes: UserChanges, call?: StoreCallOptions): Promise<StoredUser>;
  delete(id: string, call?: StoreCallOptions): Promise<void>;
  /** Up to `limit` users with seq greater than `afterSeq`, in seq order. */
  listPage(afterSeq: number, limit: number, call?: StoreCallOptions): Promise<StoredUser[]>;
  close(): Promise<void>;
}
