import { AlreadyExistsError, NotFoundError } from "@polyrpc/server-kit";

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
 * Where users live. One implementation per backend; handlers never see SQL. Every method either
 * completes or changes nothing.
 */
export interface UserStore {
  get(id: string): Promise<StoredUser>;
  /** Throws DuplicateUserError when the username or email is taken (case-insensitively). */
  create(user: NewUser): Promise<StoredUser>;
  /** Inserts all users in one transaction: all of them, or none on any error. */
  createMany(users: readonly NewUser[]): Promise<StoredUser[]>;
  update(id: string, changes: UserChanges): Promise<StoredUser>;
  delete(id: string): Promise<void>;
  /** Up to `limit` users with seq greater than `afterSeq`, in seq order. */
  listPage(afterSeq: number, limit: number): Promise<StoredUser[]>;
  close(): Promise<void>;
}
