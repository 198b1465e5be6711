import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { chatV1 } from "@polyrpc/proto";
import type { ChatEvent } from "./chat-bus.js";
import { toChatMessage, toPresenceEvent } from "./wire.js";

/**
 * True when a call's messages travel as protobuf binary: gRPC (`application/grpc`, `+proto`),
 * gRPC-Web, and the Connect protocol's `application/proto` (unary) and `connect+proto` (streams).
 * False for JSON (`+json`, `application/json`: what connect-web sends by default) and for anything
 * this does not recognise.
 */
export function isBinaryContentType(contentType: string | null | undefined): boolean {
  return /^application\/((grpc|grpc-web|connect)(\+proto)?|proto)\s*(;|$)/i.test(contentType ?? "");
}

/** The event's ChatMessage or PresenceEvent, encoded. */
function encodeEvent(event: ChatEvent): Uint8Array {
  return event.kind === "message"
    ? toBinary(chatV1.ChatMessageSchema, create(chatV1.ChatMessageSchema, toChatMessage(event.message)))
    : toBinary(chatV1.PresenceEventSchema, create(chatV1.PresenceEventSchema, toPresenceEvent(event.presence)));
}

/**
 * A response whose one field (field number `no`, the event's case of the `event` oneof) is held as
 * its encoded bytes, in the message's unknown fields: protobuf-es writes unknown fields back
 * verbatim (`writeUnknownFields`, on by default and left on by the server), so the response
 * encodes to the same bytes as one built from the event, without encoding the event again.
 */
function preEncoded<Desc extends DescMessage>(schema: Desc, no: number, event: Uint8Array): MessageShape<Desc> {
  const response = create(schema) as MessageShape<Desc> & { $unknown?: unknown };
  response.$unknown = [{ no, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(event).finish() }];
  return response;
}

interface Encoded {
  bytes: Uint8Array;
  subscribe?: chatV1.SubscribeResponse;
  chat?: chatV1.ChatResponse;
}

/**
 * Live events encoded once per replica instead of once per stream. A bus hands the same event
 * object to every subscriber of the room, and encoding a ChatMessage costs more CPU than
 * everything else a delivery does in the chat's own code (about 10 µs against 2), so with N
 * subscribers on a binary protocol the N responses share one encoding. The entries go with the
 * events (a WeakMap): nothing is kept once every stream has written an event.
 *
 * Only for binary streams: a JSON stream must get the plain response (see `isBinaryContentType`).
 */
export class EncodedEvents {
  private readonly cache = new WeakMap<ChatEvent, Encoded>();

  private encoded(event: ChatEvent): Encoded {
    let entry = this.cache.get(event);
    if (!entry) this.cache.set(event, (entry = { bytes: encodeEvent(event) }));
    return entry;
  }

  /** The Subscribe response for `event`: `message` is field 1, `presence` field 2. */
  subscribeResponse(event: ChatEvent): chatV1.SubscribeResponse {
    const entry = this.encoded(event);
    return (entry.subscribe ??= preEncoded(
      chatV1.SubscribeResponseSchema,
      event.kind === "message" ? 1 : 2,
      entry.bytes,
    ));
  }

  /** The Chat response for `event`: `message` is field 2, `presence` field 3. */
  chatResponse(event: ChatEvent): chatV1.ChatResponse {
    const entry = this.encoded(event);
    return (entry.chat ??= preEncoded(chatV1.ChatResponseSchema, event.kind === "message" ? 2 : 3, entry.bytes));
  }
}
