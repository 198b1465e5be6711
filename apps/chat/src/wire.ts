import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { chatV1 } from "@polyrpc/proto";
import type { ChatEvent, Presence } from "./chat-bus.js";
import type { StoredMessage } from "./chat-log.js";

/** A stored message as chat.v1 sends it. */
export function toChatMessage(message: StoredMessage): MessageInitShape<typeof chatV1.ChatMessageSchema> {
  return {
    room: message.room,
    sender: message.sender,
    text: message.text,
    sentAt: timestampFromDate(message.sentAt),
    sequence: message.sequence,
  };
}

/** A presence change as chat.v1 sends it. */
export function toPresenceEvent(presence: Presence): MessageInitShape<typeof chatV1.PresenceEventSchema> {
  return {
    room: presence.room,
    userId: presence.userId,
    kind: presence.kind === "joined" ? chatV1.PresenceKind.JOINED : chatV1.PresenceKind.LEFT,
    occurredAt: timestampFromDate(presence.occurredAt),
  };
}

/**
 * A live event as a Subscribe or Chat response: both name the cases of their `event` oneof
 * `message` and `presence`.
 */
export function toEventResponse(event: ChatEvent) {
  return event.kind === "message"
    ? { event: { case: "message" as const, value: toChatMessage(event.message) } }
    : { event: { case: "presence" as const, value: toPresenceEvent(event.presence) } };
}
