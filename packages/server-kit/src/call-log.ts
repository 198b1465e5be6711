import type { Logger } from "./logger.js";
import { StatusCode, statusCodeName } from "./status-code.js";

/** A call's start on the monotonic clock, for `logCallEnd`. */
export function callStart(): bigint {
  return process.hrtime.bigint();
}

/**
 * The one line every served call logs when it ends, on both runtimes:
 * `{method, code, ms, traceId}` with the code spelled as the gRPC protocol spells it
 * (`NOT_FOUND`). OK and CANCELLED (the client's choice) are "call finished", anything else
 * "call failed".
 */
export function logCallEnd(
  log: Logger,
  method: string,
  code: StatusCode,
  started: bigint,
  traceId: string | undefined,
): void {
  const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e3) / 1e3;
  const finished = code === StatusCode.OK || code === StatusCode.CANCELLED;
  log.info({ method, code: statusCodeName(code), ms, traceId }, finished ? "call finished" : "call failed");
}
