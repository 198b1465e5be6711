import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { chatV1 } from "@polyrpc/proto";
import { describe, expect, it } from "vitest";
import type { ChatEvent } from "./chat-bus.js";
import type { StoredMessage } from "./chat-log.js";
import { EncodedEvents, isBinaryContentType } from "./encoded-events.js";
import { toEventResponse } from "./wire.js";

const stored: StoredMessage = {
  room: "lobby",
  sender: "10693f39-2255-4459-9644-d767b43b1823",
  text: "hello, wörld 👋",
  sentAt: new Date("2025-01-02T03:04:05.678Z"),
  sequence: 2n ** 40n + 7n,
};
const message: ChatEvent = { kind: "message", message: stored };
const presence: ChatEvent = {
  kind: "presence",
  presence: { room: "lobby", userId: "ada", kind: "left", occurredAt: new Date("2025-01-02T03:04:05Z") },
};

/** The responses as the service builds them from the event (for JSON streams; for every stream before). */
const plainSubscribe = (event: ChatEvent) => create(chatV1.SubscribeResponseSchema, toEventResponse(event));
const plainChat = (event: ChatEvent) => create(chatV1.ChatResponseSchema, toEventResponse(event));

describe("EncodedEvents", () => {
  it.each([
    ["a message", message],
    ["a presence change", presence],
  ])("encodes %s to the same bytes as the response built from it, for Subscribe and Chat", (_, event) => {
    const encoded = new EncodedEvents();
    const subscribe = encoded.subscribeResponse(event);
    const chat = encoded.chatResponse(event);
    expect(toBinary(chatV1.SubscribeResponseSchema, subscribe)).toEqual(
      toBinary(chatV1.SubscribeResponseSchema, plainSubscribe(event)),
    );
    expect(toBinary(chatV1.ChatResponseSchema, chat)).toEqual(toBinary(chatV1.ChatResponseSchema, plainChat(event)));
    // What a client decodes is the response itself.
    expect(fromBinary(chatV1.SubscribeResponseSchema, toBinary(chatV1.SubscribeResponseSchema, subscribe))).toEqual(
      plainSubscribe(event),
    );
    expect(fromBinary(chatV1.ChatResponseSchema, toBinary(chatV1.ChatResponseSchema, chat))).toEqual(plainChat(event));
  });

  it("hands every stream the same response for the same event, and a new one for another event", () => {
    const encoded = new EncodedEvents();
    expect(encoded.subscribeResponse(message)).toBe(encoded.subscribeResponse(message));
    expect(encoded.chatResponse(message)).toBe(encoded.chatResponse(message));
    const copy: ChatEvent = { kind: "message", message: { ...stored } };
    expect(encoded.subscribeResponse(copy)).not.toBe(encoded.subscribeResponse(message));
  });
});

describe("isBinaryContentType", () => {
  it.each([
    ["application/grpc", true],
    ["application/grpc+proto", true],
    ["application/grpc-web", true],
    ["application/grpc-web+proto", true],
    ["application/connect+proto", true],
    ["application/grpc; charset=utf-8", true],
    ["application/grpc+json", false],
    ["application/grpc-web+json", false],
    ["application/grpc-web-text", false],
    ["application/connect+json", false],
    ["application/json", false],
    ["application/proto", true],
    [null, false],
    [undefined, false],
  ])("%s: %s", (contentType, binary) => {
    expect(isBinaryContentType(contentType)).toBe(binary);
  });
});
