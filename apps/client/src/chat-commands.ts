import { toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { chatV1 } from "@polyrpc/proto";
import type { CallOptions } from "@polyrpc/grpc-client";
import { formatChatEvent, formatChatMessage } from "./chat-format.js";
import { openChatInput } from "./chat-input.js";
import type { ChatCommand } from "./cli-args.js";
import { CliOutput, type OutputStreams } from "./cli-output.js";
import type { ChatServiceClient } from "./connect-chat-service.js";
import { statusName } from "./error-info.js";
import { resumingSubscription } from "./resuming-subscription.js";

/** What a chat subcommand runs with. */
export interface ChatCommandContext {
  client: ChatServiceClient;
  out: CliOutput;
  /** The raw output streams, which `chat join` shares with its prompt in a terminal. */
  streams: OutputStreams;
  /** Deadline of each call in milliseconds; 0 means none. */
  timeoutMs: number;
  /** The lines `chat join` sends. */
  stdin: NodeJS.ReadableStream;
}

type ChatRequestInit = MessageInitShape<typeof chatV1.ChatRequestSchema>;

/**
 * `chat join`: the join, then every non-blank input line as a message. When the input ends the
 * request stream half-closes; the service then ends the stream, and the command with it.
 */
async function join(
  command: Extract<ChatCommand, { name: "chat join" }>,
  ctx: ChatCommandContext,
  options: CallOptions,
) {
  const input = openChatInput(ctx.stdin, ctx.streams);
  const out = new CliOutput(ctx.out.json, input.output);
  const { room, userId, afterSequence } = command;
  async function* requests(): AsyncGenerator<ChatRequestInit> {
    yield { action: { case: "join", value: { room, userId, afterSequence } } };
    let sent = 0;
    for await (const text of input.lines) {
      // A blank line is a slip of the Enter key, not a message (the service refuses empty text).
      if (text.trim() === "") continue;
      yield { action: { case: "send", value: { text, clientMessageId: String(++sent) } } };
    }
  }
  // Our own messages are shown when they come back on the room stream, in sequence order with
  // everyone else's. The service ends the stream once it has acknowledged the last send, which
  // can be before that send came back; those are shown from their acknowledgement at the end.
  let lastSeen = 0n;
  const unseen = new Map<bigint, chatV1.ChatMessage>();
  try {
    for await (const response of ctx.client.methods.chat(requests(), options)) {
      const { event } = response;
      if (event.case === "message") {
        lastSeen = event.value.sequence;
        unseen.delete(lastSeen);
      } else if (event.case === "sent" && event.value.message && event.value.message.sequence > lastSeen) {
        unseen.set(event.value.message.sequence, event.value.message);
      }
      out.record(toJson(chatV1.ChatResponseSchema, response), formatChatEvent(event, userId));
    }
  } finally {
    // The stream may end first (an error, the service going away): stop reading so the process can exit.
    input.close();
    for (const message of [...unseen.values()].sort((a, b) => (a.sequence < b.sequence ? -1 : 1))) {
      if (message.sequence > lastSeen) out.note(formatChatMessage(message));
    }
  }
}

/**
 * Runs one chat subcommand and resolves with its exit status. Call failures are thrown (grpc-js
 * ServiceErrors), for the caller to report.
 */
export async function runChatCommand(command: ChatCommand, ctx: ChatCommandContext): Promise<number> {
  const { client, out } = ctx;
  const options: CallOptions = ctx.timeoutMs > 0 ? { timeoutMs: ctx.timeoutMs } : {};
  switch (command.name) {
    case "chat join":
      await join(command, ctx, options);
      return 0;
    case "chat send": {
      const { room, userId, text } = command;
      const { message } = await client.methods.sendMessage({ room, userId, text }, options);
      if (!message) throw new Error("the chat service answered without the stored message");
      out.message(chatV1.ChatMessageSchema, message, formatChatMessage(message));
      return 0;
    }
    case "chat subscribe": {
      const { room, userId, afterSequence, count } = command;
      let messages = 0;
      const subscription = resumingSubscription(client, {
        room,
        userId,
        afterSequence,
        deadline: options.timeoutMs !== undefined ? new Date(Date.now() + options.timeoutMs) : undefined,
        onResume: ({ attempt, code, message, delayMs, afterSequence: after }) =>
          out.warn(
            `reconnecting in ${delayMs} ms (attempt ${attempt}) after ${statusName(code)}: ${message}` +
              (after !== undefined ? `; resuming after #${after}` : ""),
          ),
      });
      for await (const response of subscription) {
        out.record(toJson(chatV1.SubscribeResponseSchema, response), formatChatEvent(response.event, userId));
        // Leaving the loop cancels the stream.
        if (response.event.case === "message" && count !== undefined && ++messages >= count) break;
      }
      return 0;
    }
    case "chat history": {
      const { room, beforeSequence, afterSequence, limit } = command;
      const cursor =
        beforeSequence !== undefined
          ? { case: "beforeSequence" as const, value: beforeSequence }
          : afterSequence !== undefined
            ? { case: "afterSequence" as const, value: afterSequence }
            : undefined;
      const response = await client.methods.getHistory({ room, cursor, limit }, options);
      const text =
        response.messages.length > 0
          ? response.messages.map(formatChatMessage).join("\n")
          : response.lastSequence === 0n
            ? `no messages in ${room} yet`
            : `no messages there (the last in ${room} is #${response.lastSequence})`;
      out.message(chatV1.GetHistoryResponseSchema, response, text);
      return 0;
    }
  }
}
