import { Metadata, status as Status, type StatusObject } from "@grpc/grpc-js";
import type { Logger } from "./logger.js";
import { isDomainError, type ErrorKind } from "./errors.js";

const codeByKind: Record<ErrorKind, Status> = {
  "invalid-argument": Status.INVALID_ARGUMENT,
  "not-found": Status.NOT_FOUND,
  "already-exists": Status.ALREADY_EXISTS,
  "failed-precondition": Status.FAILED_PRECONDITION,
  "permission-denied": Status.PERMISSION_DENIED,
  unauthenticated: Status.UNAUTHENTICATED,
  "resource-exhausted": Status.RESOURCE_EXHAUSTED,
  unavailable: Status.UNAVAILABLE,
  aborted: Status.ABORTED,
  "deadline-exceeded": Status.DEADLINE_EXCEEDED,
  cancelled: Status.CANCELLED,
};

/** The message every unexpected failure is reported with. The detail goes to the log only. */
export const INTERNAL_ERROR_MESSAGE = "internal error";

/** A status a handler may throw directly when no domain error fits. */
export class RpcStatusError extends Error {
  override readonly name = "RpcStatusError";
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Turns anything a handler threw into the status the caller receives. Domain errors keep their
 * message; anything else becomes INTERNAL with a generic message, and its detail is logged.
 * gRPC code numbers are the same in every runtime, so the Connect side reuses this table.
 */
export function toRpcStatus(err: unknown, log: Logger, method: string): StatusObject {
  if (isDomainError(err)) {
    return { code: codeByKind[err.kind], details: err.message, metadata: new Metadata() };
  }
  if (err instanceof RpcStatusError) {
    return { code: err.code, details: err.message, metadata: new Metadata() };
  }
  log.error({ err, method }, "unhandled error in handler");
  return { code: Status.INTERNAL, details: INTERNAL_ERROR_MESSAGE, metadata: new Metadata() };
}
