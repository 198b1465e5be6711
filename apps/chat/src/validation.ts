import { InvalidArgumentError } from "@polyrpc/server-kit";

const ROOM = /^[A-Za-z0-9_.-]{1,64}$/;
/** The longest text a message may have, in Unicode code points (what users count as characters). */
export const MAX_TEXT_LENGTH = 4096;
/** The longest user id: the user service refuses longer ones. */
export const MAX_USER_ID_LENGTH = 128;
/** GetHistory's page size when the request leaves `limit` at 0. */
export const DEFAULT_HISTORY_LIMIT = 50;
/** GetHistory never returns more than this; larger limits are clamped to it. */
export const MAX_HISTORY_LIMIT = 500;

/** A room name: 1-64 letters, digits, '_', '.' or '-'. `field` names it in the request. */
export function checkRoom(room: string, field = "room"): void {
  if (!ROOM.test(room)) {
    throw new InvalidArgumentError(`${field} must be 1-64 characters of letters, digits, '_', '.' or '-'`, field);
  }
}

/** Counts code points, stopping early once past `max`. */
function codePointsExceed(text: string, max: number): boolean {
  // UTF-16 length bounds the code point count from above and, halved, from below.
  if (text.length <= max) return false;
  if (text.length > 2 * max) return true;
  let count = 0;
  for (const _ of text) if (++count > max) return true;
  return false;
}

/** A message text: 1-4,096 characters (code points). */
export function checkText(text: string, field = "text"): void {
  if (text === "") throw new InvalidArgumentError(`${field} must not be empty`, field);
  if (codePointsExceed(text, MAX_TEXT_LENGTH)) {
    throw new InvalidArgumentError(`${field} must be at most 4,096 characters`, field);
  }
}

/** A UserService user id where the contract requires one. */
export function checkUserId(userId: string, field = "user_id"): void {
  if (userId === "") throw new InvalidArgumentError(`${field} is required`, field);
  if (userId.length > MAX_USER_ID_LENGTH) {
    throw new InvalidArgumentError(`${field} must be at most ${MAX_USER_ID_LENGTH} characters`, field);
  }
}

/**
 * GetHistory's effective limit: 0 (unset) means DEFAULT_HISTORY_LIMIT, and anything above
 * MAX_HISTORY_LIMIT is clamped to it rather than refused, as a page size is a wish, not a demand;
 * the response's `last_sequence` tells the caller whether more exists.
 */
export function historyLimit(limit: number): number {
  if (limit === 0) return DEFAULT_HISTORY_LIMIT;
  return Math.min(limit, MAX_HISTORY_LIMIT);
}
