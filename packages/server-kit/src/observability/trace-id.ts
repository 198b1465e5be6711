import { createCallValueKey, type CallValueKey } from "../call-hooks.js";

/**
 * The trace id of the call's server span, set by `tracingHook`. Unset (undefined) when tracing
 * does not run; the log line then takes the trace id from the `traceparent` header instead.
 */
export const TRACE_ID: CallValueKey<string | undefined> = createCallValueKey<string | undefined>(
  "polyrpc.trace-id",
  undefined,
);

// version "-" trace-id "-" parent-id "-" flags, lower-case hex (W3C Trace Context, level 1).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The trace id of a W3C `traceparent` header, or undefined when the header is absent or invalid
 * (version ff, an all-zero trace or parent id, trailing fields on version 00).
 */
export function traceIdFromTraceparent(header: string | undefined): string | undefined {
  const match = header === undefined ? null : TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, , rest] = match;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(parentId!)) return undefined;
  return traceId;
}

/**
 * The trace id to log for a call: the server span's when tracing runs, else the caller's
 * `traceparent` header's. Both runtimes' per-call log lines use it.
 */
export function traceIdOf(
  values: { get<T>(key: CallValueKey<T>): T },
  header: (name: string) => string | undefined,
): string | undefined {
  return values.get(TRACE_ID) ?? traceIdFromTraceparent(header("traceparent"));
}
