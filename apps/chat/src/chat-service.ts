import type { MessageInitShape } from "@bufbuild/protobuf";
import { chatV1 } from "@polyrpc/proto";
import {
  callDeadline,
  InvalidArgumentError,
  UnavailableError,
  type CallContext,
  type Logger,
  type ServiceHandlers,
} from "@polyrpc/server-kit";
import { traceHeaders } from "@polyrpc/server-kit/observability";
import type { ChatBus, ChatEvent, Presence } from "./chat-bus.js";
import type { ChatLog, LogCall, StoredMessage } from "./chat-log.js";
import { EncodedEvents, isBinaryContentType } from "./encoded-events.js";
import { mergeStreams } from "./merge-streams.js";
import { openRoomStream } from "./room-stream.js";
import type { UserDirectory, UserLookupCall } from "./user-directory.js";
import { historyLimit } from "./history-limit.js";
import { toChatMessage, toEventResponse } from "./wire.js";

type ChatResponseInit = MessageInitShape<typeof chatV1.ChatResponseSchema>;

/** What the chat service is built from. */
export interface ChatServiceDeps {
  /** The durable message log. */
  log: ChatLog;
  /** Fan-out of stored messages and presence. */
  bus: ChatBus;
  /** Vouches for user ids. */
  users: UserDirectory;
  /** Live events queued per stream at most (SUBSCRIBER_BUFFER). */
  bufferLimit: number;
  /** The clock that stamps presence events. */
  now?: () => Date;
  /** Where failures that must not reach a caller are reported (a publish after the message was stored). */
  logger?: Logger;
}

/** The caller's deadline, cancellation and trace context, for a user lookup on its behalf. */
function lookupCall(ctx: CallContext): UserLookupCall {
  // With tracing on, the lookup is a child of this call's span; otherwise the caller's header goes on.
  const trace = traceHeaders(ctx);
  return {
    signal: ctx.signal,
    timeoutMs: ctx.timeoutMs(),
    traceparent: trace.traceparent ?? ctx.requestHeader.get("traceparent") ?? undefined,
    tracestate: trace.tracestate ?? ctx.requestHeader.get("tracestate") ?? undefined,
    authorization: ctx.requestHeader.get("authorization") ?? undefined,
  };
}

/** The caller's deadline and cancellation, for the log (PostgreSQL turns them into a statement timeout and a cancel). */
function logCall(ctx: CallContext): LogCall {
  return { signal: ctx.signal, deadline: callDeadline(ctx) };
}

/**
 * The chat.v1 ChatService for connect-node. Failures are thrown as the kit's domain errors; the
 * server's error interceptor turns them into status codes.
 *
 * - Messages are stored in the log before they are acknowledged or published.
 * - Users are checked with the user directory on join, on a named Subscribe and on SendMessage.
 *   While the user service is unavailable, users it confirmed within the outage grace pass;
 *   anyone else gets UNAVAILABLE. A member already in a Chat stream is not checked again.
 * - A live event is encoded once for every stream of this replica that reads protobuf binary
 *   (`EncodedEvents`); JSON streams build their own responses.
 */
export function chatServiceImpl(deps: ChatServiceDeps): ServiceHandlers<typeof chatV1.ChatService> {
  const { log, bus, users, bufferLimit } = deps;
  const now = deps.now ?? (() => new Date());
  // Streams on a binary protocol share each live event's encoding (JSON streams convert their own).
  const encoded = new EncodedEvents();

  async function verifyUser(userId: string, ctx: CallContext): Promise<void> {
    try {
      await users.ensureUser(userId, lookupCall(ctx));
    } catch (err) {
      if (err instanceof UnavailableError && users.isKnownRecently(userId)) return;
      throw err;
    }
  }

  /** The log is the source of truth: a lost publish is repaired by the next message's gap fill. */
  async function publish(event: ChatEvent): Promise<void> {
    try {
      await bus.publish(event);
    } catch (err) {
      deps.logger?.warn({ err, kind: event.kind }, "could not publish a chat event");
    }
  }

  async function store(room: string, sender: string, text: string, call: LogCall): Promise<StoredMessage> {
    const message = await log.append(room, sender, text, call);
    await publish({ kind: "message", message });
    return message;
  }

  function announce(room: string, userId: string, kind: Presence["kind"]): Promise<void> {
    return publish({ kind: "presence", presence: { room, userId, kind, occurredAt: now() } });
  }

  /** Handles the requests after the join: each send is stored, published, then acknowledged. */
  async function* sends(
    requests: AsyncIterator<chatV1.ChatRequest>,
    room: string,
    userId: string,
    call: LogCall,
  ): AsyncGenerator<ChatResponseInit> {
    while (true) {
      const next = await requests.next();
      if (next.done) return;
      const { action } = next.value;
      if (action.case === "join") {
        throw new InvalidArgumentError(
          "this stream has already joined a room; open another stream to join again",
          "join",
        );
      }
      if (action.case !== "send") throw new InvalidArgumentError("a request must be a join or a send", "action");
      const message = await store(room, userId, action.value.text, call);
      yield {
        event: {
          case: "sent",
          value: { message: toChatMessage(message), clientMessageId: action.value.clientMessageId },
        },
      };
    }
  }

  return {
    async *chat(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      const action = first.done ? undefined : first.value.action;
      if (action?.case !== "join") throw new InvalidArgumentError("the first request must be a join", "join");
      const { room, userId, afterSequence } = action.value;
      await verifyUser(userId, ctx);
      const stream = await openRoomStream({ room, afterSequence, log, bus, bufferLimit, signal: ctx.signal });
      try {
        await announce(room, userId, "joined");
        yield { event: { case: "joined", value: { room, lastSequence: stream.lastSequenceAtOpen } } };
        const binary = isBinaryContentType(ctx.requestHeader.get("content-type"));
        async function* roomEvents(): AsyncGenerator<ChatResponseInit> {
          for await (const event of stream) yield binary ? encoded.chatResponse(event) : toEventResponse(event);
        }
        // Ends when the client half-closes (after every send is answered) or the room stream fails.
        yield* mergeStreams([roomEvents(), sends(iterator, room, userId, logCall(ctx))]);
      } finally {
        stream.close();
        await announce(room, userId, "left");
      }
    },

    async *subscribe(request, ctx) {
      const { room, userId, afterSequence } = request;
      const named = userId !== "";
      if (named) {
        await verifyUser(userId, ctx);
      }
      const stream = await openRoomStream({ room, afterSequence, log, bus, bufferLimit, signal: ctx.signal });
      try {
        if (named) await announce(room, userId, "joined");
        const binary = isBinaryContentType(ctx.requestHeader.get("content-type"));
        for await (const event of stream) yield binary ? encoded.subscribeResponse(event) : toEventResponse(event);
      } finally {
        stream.close();
        if (named) await announce(room, userId, "left");
      }
    },

    async sendMessage(request, ctx) {
      const { room, userId, text } = request;
      await verifyUser(userId, ctx);
      const message = await store(room, userId, text, logCall(ctx));
      return { message: toChatMessage(message) };
    },

    async getHistory(request, ctx) {
      const { room, cursor } = request;
      const call = logCall(ctx);
      const messages = await log.read(
        room,
        {
          limit: historyLimit(request.limit),
          afterSequence: cursor.case === "afterSequence" ? cursor.value : undefined,
          beforeSequence: cursor.case === "beforeSequence" ? cursor.value : undefined,
        },
        call,
      );
      // Read after the messages, so it is never below any of them.
      const lastSequence = await log.lastSequence(room, call);
      return { messages: messages.map(toChatMessage), lastSequence };
    },
  };
}
