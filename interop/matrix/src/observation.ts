/** What a matrix client saw for one check; the runner judges it against expectations.ts. */
export interface Observation {
  check: CheckName;
  /** The gRPC status code name: OK, NOT_FOUND, ... */
  code: string;
  /** The status message; "" on OK. */
  message: string;
  /** Check-specific; null when the call failed. */
  value: unknown;
}

/** The checks every matrix client runs, in this order (see the clients' `--matrix` modes). */
export const CHECKS = [
  "create",
  "get",
  "update",
  "list",
  "create_many",
  "chat",
  "metadata",
  "delete",
  "get_deleted",
  "get_empty_id",
  "get_unknown",
  "deadline",
  "cancel",
] as const;

export type CheckName = (typeof CHECKS)[number];

/** The id every client asks for in `get_unknown`. */
export const UNKNOWN_ID = "no-such-user";

/** The trailer bytes of the `metadata` check: 00 ff 10, then the prefix. */
export function trailingBinFor(prefix: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0xff, 0x10]), Buffer.from(prefix)]);
}
