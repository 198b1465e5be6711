import type { Logger } from "./logger.js";
import { isDomainError, type ErrorKind } from "./errors.js";
import { StatusCode } from "./status-code.js";

const codeByKind: Record<ErrorKind, StatusCode> = {
  "invalid-argument": StatusCode.INVALID_ARGUMENT,
  "not-found": StatusCode.NOT_FOUND,
  "already-exists": StatusCode.ALREADY_EXISTS,
  "failed-precondition": StatusCode.FAILED_PRECONDITION,
  "permission-denied": StatusCode.PERMISSION_DENIED,
  unauthenticated: StatusCode.UNAUTHENTICATED,
  "resource-exhausted": StatusCode.RESOURCE_EXHAUSTED,
  unavailable: StatusCode.UNAVAILABLE,
  aborted: StatusCode.ABORTED,
  "deadline-exceeded": StatusCode.DEADLINE_EXCEEDED,
  cancelled: StatusCode.CANCELLED,
};

/** The message every unexpected failure is reported with. The detail goes to the log only. */
export const INTERNAL_ERROR_MESSAGE = "internal error";

/** The status a call ends with, whatever the runtime. */
export interface RpcStatus {
  readonly code: StatusCode;
  readonly details: string;
}

/** A status a handler may throw directly when no domain error fits. */
export class RpcStatusError extends Error {
  override readonly name = "RpcStatusError";
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Turns anything a handler threw into the status the caller receives, on both runtimes. Domain
 * errors keep their message; anything else becomes INTERNAL with a generic message, and its
 * detail is logged.
 */
export function toRpcStatus(err: unknown, log: Logger, method: string): RpcStatus {
  if (isDomainError(err)) return { code: codeByKind[err.kind], details: err.message };
  if (err instanceof RpcStatusError) return { code: err.code, details: err.message };
  log.error({ err, method }, "unhandled error in handler");
  return { code: StatusCode.INTERNAL, details: INTERNAL_ERROR_MESSAGE };
}
