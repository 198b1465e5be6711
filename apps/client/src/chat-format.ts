import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { chatV1 } from "@polyrpc/proto";

/** `HH:MM:SS` in local time, what a person in a chat wants; `--:--:--` when the service sent none. */
function clock(timestamp: Timestamp | undefined): string {
  if (!timestamp) return "--:--:--";
  const date = timestampDate(timestamp);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** One line per message: `#12 12:00:01 <sender>: <text>` (sequence, local time, sender's user id). */
export function formatChatMessage(message: chatV1.ChatMessage): string {
  return `#${message.sequence} ${clock(message.sentAt)} ${message.sender}: ${message.text}`;
}

/** `* <user> joined` or `* <user> left`. */
export function formatPresence(event: chatV1.PresenceEvent): string {
  const what =
    event.kind === chatV1.PresenceKind.JOINED ? "joined" : event.kind === chatV1.PresenceKind.LEFT ? "left" : "is here";
  return `* ${event.userId} ${what}`;
}

/** The answer to a join: `joined lobby as <user> (last message #12)`, or `(no messages yet)`. */
export function formatJoined(joined: chatV1.Joined, userId: string): string {
  const last = joined.lastSequence === 0n ? "no messages yet" : `last message #${joined.lastSequence}`;
  return `joined ${joined.room} as ${userId} (${last})`;
}

/**
 * A Chat or Subscribe event as a line for people. A `sent` acknowledgement has no line: the
 * message itself comes back on the stream, numbered, like everyone else's.
 */
export function formatChatEvent(
  event: chatV1.ChatResponse["event"] | chatV1.SubscribeResponse["event"],
  userId: string,
): string | undefined {
  switch (event.case) {
    case "joined":
      return formatJoined(event.value, userId);
    case "message":
      return formatChatMessage(event.value);
    case "presence":
      return formatPresence(event.value);
    case "sent":
    case undefined:
      return undefined;
  }
}
