/** GetHistory's limit when the request leaves it at 0. */
export const DEFAULT_HISTORY_LIMIT = 50;
/** The most messages one GetHistory returns. */
export const MAX_HISTORY_LIMIT = 500;

/**
 * GetHistory's effective limit: 0 (unset) means DEFAULT_HISTORY_LIMIT, and anything above
 * MAX_HISTORY_LIMIT is clamped to it rather than refused, as a page size is a wish, not a demand;
 * the response's `last_sequence` tells the caller whether more exists. (The other field rules of
 * chat.v1 are declared in the proto with protovalidate and enforced by the server kit.)
 */
export function historyLimit(limit: number): number {
  if (limit === 0) return DEFAULT_HISTORY_LIMIT;
  return Math.min(limit, MAX_HISTORY_LIMIT);
}
