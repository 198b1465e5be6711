import type { Presence } from "./chat-bus.js";
import type { StoredMessage } from "./chat-log.js";

/**
 * The chat's PostgreSQL notifications, in one place: what `PostgresChatLog.append` (messages, in
 * SQL, in the transaction that stores them) and `PostgresChatBus.publish` (presence) send on
 * CHAT_NOTIFY_CHANNEL, and how the bus reads them back.
 */

/** The channel every chat replica LISTENs on. */
export const CHAT_NOTIFY_CHANNEL = "polyrpc_chat";

/**
 * NOTIFY payloads must be shorter than 8000 bytes. A message whose JSON fits travels whole; a larger
 * one (4,096 characters of up to 4 bytes each do not fit) travels as its room and sequence only, and
 * each listening replica reads it from the log.
 */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7999;

/** A notification as it travels (JSON). Sequences are strings: int8 exceeds a JSON number. */
type Notification =
  | { type: "message"; room: string; sequence: string; sender?: string; text?: string; sentAt?: number }
  | { type: "presence"; room: string; userId: string; kind: "joined" | "left"; occurredAt: number };

/**
 * The SQL of a stored message's notification, in two steps so the JSON is built once: the columns
 * `notify_whole` (the whole message) and `notify_reference`, over the columns `room`, `sequence`,
 * `sender` and `text` and the parameter `sentAtParam` (epoch milliseconds); then the payload,
 * the whole message when it fits, else its reference.
 */
export function messageNotificationColumns(sentAtParam: string): string {
  return `json_build_object('type', 'message', 'room', room, 'sequence', sequence::text,
                        'sender', sender, 'text', text, 'sentAt', ${sentAtParam}::bigint)::text AS notify_whole,
      json_build_object('type', 'message', 'room', room, 'sequence', sequence::text)::text AS notify_reference`;
}
export const MESSAGE_NOTIFICATION = `CASE WHEN octet_length(notify_whole) <= ${MAX_NOTIFY_PAYLOAD_BYTES} THEN notify_whole ELSE notify_reference END`;

/** A presence event's notification. */
export function presenceNotification({ room, userId, kind, occurredAt }: Presence): string {
  return JSON.stringify({
    type: "presence",
    room,
    userId,
    kind,
    occurredAt: occurredAt.getTime(),
  } satisfies Notification);
}

/** A notification as read: a presence event, a whole message, or a reference to read from the log. */
export type ReceivedNotification =
  | { kind: "presence"; presence: Presence }
  | { kind: "message"; message: StoredMessage }
  | { kind: "reference"; room: string; sequence: bigint };

/** Reads a payload; undefined when it is not one of ours (malformed JSON). */
export function parseNotification(payload: string): ReceivedNotification | undefined {
  let notification: Notification;
  try {
    notification = JSON.parse(payload) as Notification;
  } catch {
    return undefined;
  }
  if (notification.type === "presence") {
    const { room, userId, kind, occurredAt } = notification;
    return { kind: "presence", presence: { room, userId, kind, occurredAt: new Date(occurredAt) } };
  }
  const { room, sender, text, sentAt } = notification;
  const sequence = BigInt(notification.sequence);
  if (sender === undefined || text === undefined || sentAt === undefined) return { kind: "reference", room, sequence };
  return { kind: "message", message: { room, sequence, sender, text, sentAt: new Date(sentAt) } };
}
