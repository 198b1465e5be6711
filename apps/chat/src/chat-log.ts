/** A chat message as the log holds it. */
export interface StoredMessage {
  room: string;
  /** The UserService id of the sender. */
  sender: string;
  text: string;
  /** When the log stored it. */
  sentAt: Date;
  /** Its place in the room: 1 for the first message, then +1 with no gaps. */
  sequence: bigint;
}

/** Where to read in a room's log. Sequences are exclusive bounds. */
export interface ReadOptions {
  /** Only messages with a greater sequence: the `limit` closest to it. */
  afterSequence?: bigint;
  /** Only messages with a smaller sequence: the `limit` closest to it unless `afterSequence` is set too. */
  beforeSequence?: bigint;
  /** At most this many messages; 0 reads nothing. */
  limit: number;
}

/**
 * The budget of one log operation: the caller's deadline and the signal that fires when the call or
 * stream ends. A backend that can stops the work on the server when either runs out (PostgreSQL
 * turns the deadline into a statement timeout and cancels the backend on abort); an embedded one,
 * whose operations take microseconds, may ignore it.
 */
export interface LogCall {
  deadline?: Date | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * The durable, per-room ordered log of chat messages: the source of truth for history, resume and
 * gap filling. Handlers and streams see only this interface, never SQL.
 *
 * One implementation per backend: `SqliteChatLog` for a single replica, `PostgresChatLog` for
 * several replicas sharing one log. Every
 * implementation must assign sequences atomically (1, 2, 3, ... per room, no gaps, no repeats,
 * whichever replica appends) and make a message readable before `append` resolves.
 */
export interface ChatLog {
  /** Stores a message as the room's next sequence, atomically, and returns it as stored. */
  append(room: string, sender: string, text: string, call?: LogCall): Promise<StoredMessage>;
  /**
   * Messages in ascending sequence order. With `afterSequence`, the first `limit` after it (and,
   * when `beforeSequence` is set too, before that); with only `beforeSequence`, the `limit`
   * closest before it; with neither, the latest `limit`.
   */
  read(room: string, options: ReadOptions, call?: LogCall): Promise<StoredMessage[]>;
  /** The room's highest sequence; 0 when the room has no messages. */
  lastSequence(room: string, call?: LogCall): Promise<bigint>;
  close(): Promise<void>;
}
