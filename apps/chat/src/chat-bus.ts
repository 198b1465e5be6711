import type { StoredMessage } from "./chat-log.js";

/** A member joined or left a room. Presence is live only: it is neither stored nor replayed. */
export interface Presence {
  room: string;
  userId: string;
  kind: "joined" | "left";
  occurredAt: Date;
}

/** What travels on the bus: a stored message, or a presence change. */
export type ChatEvent = { kind: "message"; message: StoredMessage } | { kind: "presence"; presence: Presence };

/** Receives the events of one room. It must return quickly and never throw: it only hands over. */
export type ChatEventListener = (event: ChatEvent) => void;

/** Stops a subscription; calling it again does nothing. */
export type Unsubscribe = () => void;

/** The room an event belongs to. */
export function roomOf(event: ChatEvent): string {
  return event.kind === "message" ? event.message.room : event.presence.room;
}

/**
 * Fan-out of room events to every subscriber, on every replica. This is the seam where a
 * multi-replica backend plugs in (`PostgresChatBus`, over LISTEN/NOTIFY), so the contract is
 * deliberately weak and consumers must not assume more:
 *
 * - delivery is at most once and best effort: an event may arrive late, out of order relative to
 *   other events, twice through a reconnect, or not at all;
 * - messages are published only after the ChatLog stored them, so the log is the source of truth
 *   and `openRoomStream` repairs order, duplicates and gaps from it.
 *
 * `subscribe` resolves once the subscription is active: every event published after that is
 * offered to the listener. (A LISTEN needs a round trip; a stream must not read the log before it.)
 */
export interface ChatBus {
  /** Offers an event to the room's subscribers; never waits for any of them to consume it. */
  publish(event: ChatEvent): Promise<void>;
  subscribe(room: string, listener: ChatEventListener): Promise<Unsubscribe>;
  /** Releases what the bus holds (connections, timers); the server calls it when it stops. */
  close?(): Promise<void>;
}

/**
 * The ChatBus of a single replica: listeners are called synchronously, in subscription order, from
 * `publish`. Suitable only when one process serves every stream of a room.
 */
export class InProcessChatBus implements ChatBus {
  private readonly rooms = new Map<string, Set<ChatEventListener>>();

  async publish(event: ChatEvent): Promise<void> {
    const listeners = this.rooms.get(roomOf(event));
    if (!listeners) return;
    // A listener may unsubscribe (itself or others) while we iterate: iterate over a snapshot.
    for (const listener of [...listeners]) listener(event);
  }

  async subscribe(room: string, listener: ChatEventListener): Promise<Unsubscribe> {
    let listeners = this.rooms.get(room);
    if (!listeners) this.rooms.set(room, (listeners = new Set()));
    // Wrap, so that subscribing the same function twice gives two independent subscriptions.
    const entry: ChatEventListener = (event) => listener(event);
    listeners.add(entry);
    return () => {
      const current = this.rooms.get(room);
      if (!current?.delete(entry)) return;
      if (current.size === 0) this.rooms.delete(room);
    };
  }

  /** How many subscriptions a room has (all rooms when omitted); for tests and metrics. */
  subscriberCount(room?: string): number {
    if (room !== undefined) return this.rooms.get(room)?.size ?? 0;
    let total = 0;
    for (const listeners of this.rooms.values()) total += listeners.size;
    return total;
  }
}
