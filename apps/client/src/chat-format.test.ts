import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { chatV1 } from "@polyrpc/proto";
import { describe, expect, it } from "vitest";
import { formatChatEvent, formatChatMessage, formatJoined, formatPresence } from "./chat-format.js";

const message = create(chatV1.ChatMessageSchema, {
  room: "lobby",
  sender: "u-7",
  text: "hello: world",
  // Local time, so the expected clock is the same in every time zone.
  sentAt: timestampFromDate(new Date(2026, 4, 6, 9, 5, 3)),
  sequence: 12n,
});

describe("formatChatMessage", () => {
  it("prints the sequence, the local time, the sender and the text", () => {
    expect(formatChatMessage(message)).toBe("#12 09:05:03 u-7: hello: world");
  });

  it("shows a missing time as dashes", () => {
    expect(formatChatMessage(create(chatV1.ChatMessageSchema, { sender: "a", text: "b", sequence: 1n }))).toBe(
      "#1 --:--:-- a: b",
    );
  });
});

describe("formatPresence", () => {
  it("says who joined and who left", () => {
    const event = (kind: chatV1.PresenceKind) =>
      create(chatV1.PresenceEventSchema, { room: "lobby", userId: "u-7", kind });
    expect(formatPresence(event(chatV1.PresenceKind.JOINED))).toBe("* u-7 joined");
    expect(formatPresence(event(chatV1.PresenceKind.LEFT))).toBe("* u-7 left");
  });
});

describe("formatJoined", () => {
  it("names the room, the user and the last message so far", () => {
    expect(formatJoined(create(chatV1.JoinedSchema, { room: "lobby", lastSequence: 12n }), "u-7")).toBe(
      "joined lobby as u-7 (last message #12)",
    );
    expect(formatJoined(create(chatV1.JoinedSchema, { room: "new" }), "u-7")).toBe(
      "joined new as u-7 (no messages yet)",
    );
  });
});

describe("formatChatEvent", () => {
  it("has no line for an acknowledgement: the message itself comes back on the stream", () => {
    const sent = create(chatV1.ChatResponseSchema, {
      event: { case: "sent", value: { message, clientMessageId: "1" } },
    });
    expect(formatChatEvent(sent.event, "u-7")).toBeUndefined();
    const received = create(chatV1.ChatResponseSchema, { event: { case: "message", value: message } });
    expect(formatChatEvent(received.event, "u-7")).toBe("#12 09:05:03 u-7: hello: world");
  });
});
