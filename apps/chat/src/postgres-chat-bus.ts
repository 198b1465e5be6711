import pg from "pg";
import { UnavailableError, type Logger } from "@polyrpc/server-kit";
import { postgresQuery } from "@polyrpc/server-kit/postgres";
import { roomOf, type ChatBus, type ChatEvent, type ChatEventListener, type Unsubscribe } from "./chat-bus.js";
import type { ChatLog, StoredMessage } from "./chat-log.js";
import { CHAT_NOTIFY_CHANNEL, parseNotification, presenceNotification } from "./chat-notification.js";

/** Options of `PostgresChatBus`. */
export interface PostgresChatBusOptions {
  /** Where to LISTEN: the bus opens one connection of its own for it, outside the pool. */
  connection: pg.ClientConfig;
  /** The pool presence is published through (the log's). */
  pool: pg.Pool;
  /** The log the notified messages are in: read for references and for the catch-up after a reconnect. */
  log: ChatLog;
  logger?: Logger;
  /** First delay before reconnecting the LISTEN connection; it doubles up to `maxReconnectDelayMs`. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /**
   * How often the idle LISTEN connection is pinged, so a connection that died without closing (a
   * network partition) is noticed in seconds rather than after TCP keepalive's minutes.
   */
  pingIntervalMs?: number;
}

/** The subscriptions of one room on this replica, and where its delivery stands. */
interface RoomFeed {
  listeners: Set<ChatEventListener>;
  /** The highest message sequence handed to the listeners; undefined before the first. */
  lastDispatched: bigint | undefined;
  /** Deliveries run one after another per room, so a message read from the log keeps its place. */
  work: Promise<void>;
}

const PRESENCE_TIMEOUT_MS = 2000;

/**
 * The ChatBus of several replicas on one PostgreSQL database, through LISTEN/NOTIFY.
 *
 * - Messages: `PostgresChatLog.append` NOTIFYs in the transaction that stores the message, so a
 *   notification exists only for a committed message, and PostgreSQL delivers them in commit order,
 *   which per room is sequence order (appenders queue on the room's counter row). `publish` of a
 *   message therefore does nothing: the log already told every replica, this one included. A
 *   notification carries the whole message when it fits in NOTIFY's 8000 bytes (nearly always: no
 *   extra query), or only its room and sequence, and then the bus reads the message from the log.
 * - Presence: `publish` NOTIFYs it through the pool.
 * - Every replica LISTENs on one channel, on one dedicated connection, and hands each room's events
 *   to its local subscribers in arrival order, one room at a time, dropping messages at or below
 *   the last it handed out. Streams (`openRoomStream`) fill any remaining gap from the log.
 * - When the LISTEN connection breaks (database restart, network), the bus reconnects with
 *   exponential backoff, LISTENs again and catches up: for each room with local subscribers it
 *   reads the room's newest message and hands it out, and each stream fills the gap before it from
 *   the log, at its own pace. Streams stay open meanwhile, so subscribers miss nothing; presence
 *   events of the outage are lost (presence is live only). `subscribe` fails with UnavailableError
 *   while the bus is disconnected, as opening a stream needs the database anyway.
 */
export class PostgresChatBus implements ChatBus {
  private readonly rooms = new Map<string, RoomFeed>();
  private client: pg.Client | undefined;
  private connected = false;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly reconnectDelayMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly pingIntervalMs: number;
  /** Resolves when the connection that is being opened is listening (or has failed). */
  private connecting: Promise<void> | undefined;
  /** How many times the LISTEN connection came back after a failure; for tests and metrics. */
  reconnects = 0;

  constructor(private readonly options: PostgresChatBusOptions) {
    this.reconnectDelayMs = options.reconnectDelayMs ?? 100;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 2000;
    this.pingIntervalMs = options.pingIntervalMs ?? 5000;
  }

  /** Opens the LISTEN connection; rejects with UnavailableError when the database cannot be reached. */
  async start(): Promise<void> {
    await this.connect();
    if (this.connected) return;
    // Nobody will use a bus that could not start: stop its reconnect attempts too.
    await this.close();
    throw new UnavailableError("the chat bus cannot reach the database");
  }

  /** Whether the LISTEN connection is up. */
  get isConnected(): boolean {
    return this.connected;
  }

  async publish(event: ChatEvent): Promise<void> {
    // Messages were announced by the log, in the transaction that stored them.
    if (event.kind === "message") return;
    await postgresQuery(
      this.options.pool,
      { deadline: new Date(Date.now() + PRESENCE_TIMEOUT_MS) },
      "SELECT pg_notify($1, $2)",
      [CHAT_NOTIFY_CHANNEL, presenceNotification(event.presence)],
    );
  }

  async subscribe(room: string, listener: ChatEventListener): Promise<Unsubscribe> {
    if (this.closed) throw new UnavailableError("the chat bus is closed");
    // Every room shares the one LISTEN, so a subscription is active as soon as it is registered.
    if (!this.connected) {
      throw new UnavailableError("the chat cannot follow rooms while it reconnects to the database; try again");
    }
    let feed = this.rooms.get(room);
    if (!feed)
      this.rooms.set(room, (feed = { listeners: new Set(), lastDispatched: undefined, work: Promise.resolve() }));
    const entry: ChatEventListener = (event) => listener(event);
    feed.listeners.add(entry);
    return () => {
      const current = this.rooms.get(room);
      if (!current?.listeners.delete(entry)) return;
      if (current.listeners.size === 0) this.rooms.delete(room);
    };
  }

  /** How many subscriptions a room has (all rooms when omitted); for tests and metrics. */
  subscriberCount(room?: string): number {
    if (room !== undefined) return this.rooms.get(room)?.listeners.size ?? 0;
    let total = 0;
    for (const feed of this.rooms.values()) total += feed.listeners.size;
    return total;
  }

  /** Closes the LISTEN connection; subscriptions stay registered but receive nothing more. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    await this.connecting;
    await client?.end().catch(() => {});
  }

  private connect(): Promise<void> {
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Opens a connection, LISTENs, and on success catches up every followed room. */
  private async open(): Promise<void> {
    const client = new pg.Client({ ...this.options.connection, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    let failed = false;
    const fail = (err?: Error) => {
      if (failed) return;
      failed = true;
      this.lost(client, err);
    };
    client.on("error", fail);
    client.on("end", () => fail());
    client.on("notification", (message) => {
      if (message.channel === CHAT_NOTIFY_CHANNEL && message.payload) this.receive(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHAT_NOTIFY_CHANNEL}`);
    } catch (err) {
      fail(err as Error);
      return;
    }
    if (failed) return;
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    const recovered = this.attempt > 0;
    this.client = client;
    this.connected = true;
    this.attempt = 0;
    this.pingTimer = setInterval(() => this.ping(client), this.pingIntervalMs);
    this.pingTimer.unref();
    if (recovered) {
      this.reconnects++;
      this.options.logger?.info({ rooms: this.rooms.size }, "chat bus listening again; catching up");
      for (const [room, feed] of this.rooms) this.catchUp(room, feed);
    }
  }

  /** A query on the idle connection; a broken one fails it and the connection is replaced. */
  private ping(client: pg.Client): void {
    const timer = setTimeout(() => client.end().catch(() => {}), this.pingIntervalMs);
    client.query("SELECT 1").then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }

  /** The LISTEN connection failed or could not be opened: forget it and try again later. */
  private lost(client: pg.Client, err: Error | undefined): void {
    if (this.client === client) {
      this.client = undefined;
      this.connected = false;
      clearInterval(this.pingTimer);
    }
    client.end().catch(() => {});
    if (this.closed) return;
    const delay = Math.min(this.maxReconnectDelayMs, this.reconnectDelayMs * 2 ** this.attempt);
    this.attempt++;
    if (this.attempt === 1) {
      this.options.logger?.warn(
        { err: err && { message: err.message, code: (err as { code?: string }).code } },
        "chat bus lost its database connection; reconnecting",
      );
    }
    clearTimeout(this.reconnectTimer);
    // Jitter, so replicas that lost the same server do not all knock at once.
    this.reconnectTimer = setTimeout(() => void this.connect(), delay / 2 + Math.random() * (delay / 2));
    this.reconnectTimer.unref();
  }

  private receive(payload: string): void {
    const notification = parseNotification(payload);
    if (!notification) {
      this.options.logger?.warn({ payload: payload.slice(0, 200) }, "chat bus ignored a malformed notification");
      return;
    }
    if (notification.kind === "presence") {
      const feed = this.rooms.get(notification.presence.room);
      if (feed) this.enqueue(feed, async () => this.dispatch(feed, notification));
      return;
    }
    const { room, sequence } = notification.kind === "message" ? notification.message : notification;
    const feed = this.rooms.get(room);
    if (!feed) return; // nobody here follows that room
    const inline = notification.kind === "message" ? notification.message : undefined;
    this.enqueue(feed, async () => {
      if (isDelivered(feed, sequence)) return;
      const message = inline ?? (await this.readMessage(room, sequence));
      if (message) this.deliver(feed, message);
    });
  }

  /** After a reconnect: hands out the room's newest message; streams fill the gap before it from the log. */
  private catchUp(room: string, feed: RoomFeed, retriesLeft = 5): void {
    this.enqueue(feed, async () => {
      let newest: StoredMessage | undefined;
      try {
        [newest] = await this.options.log.read(room, { limit: 1 }, { deadline: new Date(Date.now() + 5000) });
      } catch (err) {
        this.options.logger?.warn({ err, room }, "chat bus could not catch up a room; retrying");
        if (retriesLeft > 0 && !this.closed) {
          setTimeout(() => this.catchUp(room, feed, retriesLeft - 1), this.maxReconnectDelayMs).unref();
        }
        return;
      }
      if (newest && !isDelivered(feed, newest.sequence)) this.deliver(feed, newest);
    });
  }

  /** Reads one notified message from the log; undefined if it cannot (the next one repairs it). */
  private async readMessage(room: string, sequence: bigint): Promise<StoredMessage | undefined> {
    try {
      const [message] = await this.options.log.read(
        room,
        { afterSequence: sequence - 1n, limit: 1 },
        { deadline: new Date(Date.now() + 5000) },
      );
      return message?.sequence === sequence ? message : undefined;
    } catch (err) {
      this.options.logger?.warn({ err, room, sequence: String(sequence) }, "chat bus could not read a message");
      return undefined;
    }
  }

  private enqueue(feed: RoomFeed, task: () => Promise<void>): void {
    feed.work = feed.work
      .then(task)
      .catch((err: unknown) => {
        this.options.logger?.warn({ err }, "chat bus delivery failed");
      })
      // One socket read can bring hundreds of notifications. Streams hand events to their clients
      // one per turn of the event loop, so deliver at that pace too: a burst then flows through
      // instead of piling up in (and overflowing) every stream's bounded queue.
      .then(nextTurn);
  }

  private deliver(feed: RoomFeed, message: StoredMessage): void {
    feed.lastDispatched = message.sequence;
    this.dispatch(feed, { kind: "message", message });
  }

  private dispatch(feed: RoomFeed, event: ChatEvent): void {
    // A room can be unsubscribed and subscribed again while its work waited: deliver to the live set.
    const current = this.rooms.get(roomOf(event));
    if (current !== feed) return;
    // A listener may unsubscribe (itself or others) while we iterate: iterate over a snapshot.
    for (const listener of [...feed.listeners]) listener(event);
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function isDelivered(feed: RoomFeed, sequence: bigint): boolean {
  return feed.lastDispatched !== undefined && sequence <= feed.lastDispatched;
}
