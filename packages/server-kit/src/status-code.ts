/**
 * The gRPC status codes, numbered as the gRPC protocol numbers them: the same numbers as
 * grpc-js's `status` and connect's `Code`, so either runtime's value is a StatusCode and the kit's
 * core needs neither runtime.
 */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCodeName = keyof typeof StatusCode;
export type StatusCode = (typeof StatusCode)[StatusCodeName];

const names = Object.fromEntries(Object.entries(StatusCode).map(([name, code]) => [code, name])) as Record<
  StatusCode,
  StatusCodeName
>;

/** The protocol's spelling of a code (`NOT_FOUND`): the one the logs, metrics and tests use. */
export function statusCodeName(code: StatusCode): StatusCodeName {
  return names[code] ?? "UNKNOWN";
}
