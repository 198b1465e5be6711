import { isServiceError, status as Status } from "@polyrpc/grpc-client";

/** A failure as the CLI and the demo report it: a gRPC status name and a message. */
export interface ErrorInfo {
  /** `NOT_FOUND`, `UNAVAILABLE`, ...; `UNKNOWN` for anything that is not a gRPC status. */
  code: string;
  message: string;
}

/** The canonical name of a gRPC status code, e.g. 5 → `NOT_FOUND`. */
export function statusName(code: number): string {
  return Status[code] ?? `CODE_${code}`;
}

/** True when `err` is a gRPC call error with the given status code. */
export function hasStatus(err: unknown, code: Status): boolean {
  return isServiceError(err) && err.code === code;
}

/**
 * Describes a call error by its status name and the service's own message (`details`), without the
 * `5 NOT_FOUND:` prefix grpc-js puts in `Error.message`. Other errors keep their message; those
 * that carry a status name in `code` (such as the CLI's input errors) keep it too.
 */
export function errorInfo(err: unknown): ErrorInfo {
  if (isServiceError(err)) return { code: statusName(err.code), message: err.details };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === "string" && /^[A-Z_]+$/.test(code) ? code : "UNKNOWN", message: err.message };
  }
  return { code: "UNKNOWN", message: String(err) };
}
