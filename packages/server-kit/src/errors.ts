/**
 * The error vocabulary of polyrpc's domain code. Services throw subclasses of these (for example
 * `class UserNotFoundError extends NotFoundError`); `toRpcStatus` in rpc-status.ts is the one place
 * that turns them into gRPC status codes. Anything else that is thrown is an internal error.
 */
export type ErrorKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "failed-precondition"
  | "permission-denied"
  | "unauthenticated"
  | "resource-exhausted"
  | "unavailable"
  | "aborted"
  | "deadline-exceeded"
  | "cancelled";

/** Base class of every error whose message is written for the caller. */
export abstract class DomainError extends Error {
  abstract readonly kind: ErrorKind;
}

/** The request is malformed. `field` names the offending request field, when there is one. */
export class InvalidArgumentError extends DomainError {
  override readonly name: string = "InvalidArgumentError";
  readonly kind = "invalid-argument" as const;
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class NotFoundError extends DomainError {
  override readonly name: string = "NotFoundError";
  readonly kind = "not-found" as const;
}

export class AlreadyExistsError extends DomainError {
  override readonly name: string = "AlreadyExistsError";
  readonly kind = "already-exists" as const;
}

export class FailedPreconditionError extends DomainError {
  override readonly name: string = "FailedPreconditionError";
  readonly kind = "failed-precondition" as const;
}

export class PermissionDeniedError extends DomainError {
  override readonly name: string = "PermissionDeniedError";
  readonly kind = "permission-denied" as const;
}

export class UnauthenticatedError extends DomainError {
  override readonly name: string = "UnauthenticatedError";
  readonly kind = "unauthenticated" as const;
}

export class ResourceExhaustedError extends DomainError {
  override readonly name: string = "ResourceExhaustedError";
  readonly kind = "resource-exhausted" as const;
}

/** What a caller reads when a write could not be saved because the database's disk is full. */
export const STORAGE_FULL_MESSAGE = "the database's storage is full: the change was not saved";

/** A dependency (database, another service) cannot be reached; the caller may retry. */
export class UnavailableError extends DomainError {
  override readonly name: string = "UnavailableError";
  readonly kind = "unavailable" as const;
}

/** The caller's deadline passed before the work could be done. */
export class DeadlineExceededError extends DomainError {
  override readonly name: string = "DeadlineExceededError";
  readonly kind = "deadline-exceeded" as const;
}

/** The call was ended by its caller (cancellation) or its deadline. */
export class CancelledError extends DomainError {
  override readonly name: string = "CancelledError";
  readonly kind = "cancelled" as const;
}

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}
