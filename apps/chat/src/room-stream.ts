import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "@polyrpc/server-kit";
import type { ChatBus, ChatEvent, Unsubscribe } from "./chat-bus.js";
import type { ChatLog, StoredMessage } from "./chat-log.js";

/** How many stored messages a stream reads from the log at a time. */
export const HISTORY_PAGE_SIZE = 256;

/** Options of `openRoomStream`. */
export interface RoomStreamOptions {
  room: string;
  /** Replay the stored messages after this sequence first (0 = the whole history); unset = live only. */
  afterSequence?: bigint | undefined;
  log: ChatLog;
  bus: ChatBus;
  /** Live events queued for this stream at most; one more ends it with ResourceExhaustedError. */
  bufferLimit: number;
  /** Aborting ends the stream cleanly. */
  signal?: AbortSignal | undefined;
  /** Messages per log read; HISTORY_PAGE_SIZE by default. */
  pageSize?: number;
}

/**
 * The events of one room, in the order a client must see them: every message exactly once in
 * sequence order (history first, then live), with presence events interleaved as they arrive.
 * Iterate it once. Ending the iteration early, `close()` or the signal end it and unsubscribe.
 */
export interface RoomStream extends AsyncIterable<ChatEvent> {
  /** The room's last sequence when the stream subscribed. */
  readonly lastSequenceAtOpen: bigint;
  /** The sequence of the last message this stream handed out (its start point before any). */
  readonly lastDelivered: bigint;
  /** Unsubscribes and ends the iteration; safe to call at any time, more than once. */
  close(): void;
}

type Take = { kind: "event"; event: ChatEvent } | { kind: "closed" } | { kind: "overflow" };

/**
 * Live events waiting for a slow consumer. `push` never blocks the publisher: past `limit` the
 * queue gives up, drops what it holds and reports overflow to the consumer.
 */
class LiveQueue {
  private items: ChatEvent[] = [];
  private head = 0;
  private waiter: ((take: Take) => void) | undefined;
  state: "open" | "closed" | "overflow" = "open";

  constructor(
    private readonly limit: number,
    private readonly onOverflow: () => void,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(event: ChatEvent): void {
    if (this.state !== "open") return;
    if (this.waiter) {
      const wake = this.waiter;
      this.waiter = undefined;
      wake({ kind: "event", event });
    } else if (this.size < this.limit) {
      this.items.push(event);
    } else {
      this.finish("overflow");
      this.onOverflow();
    }
  }

  /** Ends the queue and frees what it holds; the consumer's next take sees `state`. */
  finish(state: "closed" | "overflow"): void {
    if (this.state !== "open") return;
    this.state = state;
    this.items = [];
    this.head = 0;
    const wake = this.waiter;
    this.waiter = undefined;
    wake?.({ kind: state });
  }

  /** Drops queued messages the consumer already has, so that a long replay does not count them. */
  dropMessagesUpTo(sequence: bigint): void {
    if (this.size === 0) return;
    this.items = this.items.slice(this.head).filter((e) => e.kind !== "message" || e.message.sequence > sequence);
    this.head = 0;
  }

  take(): Promise<Take> | Take {
    if (this.state !== "open") return { kind: this.state };
    if (this.size === 0) return new Promise((resolve) => (this.waiter = resolve));
    const event = this.items[this.head++]!;
    // Compact now and then instead of shifting on every take.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return { kind: "event", event };
  }
}

class RoomStreamImpl implements RoomStream {
  private readonly queue: LiveQueue;
  private unsubscribe: Unsubscribe = () => {};
  private iterated = false;
  lastSequenceAtOpen = 0n;
  lastDelivered = 0n;

  constructor(private readonly options: RoomStreamOptions) {
    if (!(options.bufferLimit >= 1)) throw new RangeError("bufferLimit must be at least 1");
    this.queue = new LiveQueue(options.bufferLimit, () => this.close());
  }

  async open(): Promise<void> {
    const { room, log, bus, afterSequence, signal } = this.options;
    // Subscribe first, then read: a message stored after the read is caught live, one stored
    // before it is in the log, and the overlap is dropped by sequence.
    this.unsubscribe = await bus.subscribe(room, (event) => this.queue.push(event));
    try {
      this.lastSequenceAtOpen = await log.lastSequence(room, { signal });
      if (afterSequence !== undefined && afterSequence > this.lastSequenceAtOpen) {
        throw new InvalidArgumentError(
          `after_sequence ${afterSequence} is beyond the last message of room "${room}" (${this.lastSequenceAtOpen})`,
          "after_sequence",
        );
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.lastDelivered = afterSequence ?? this.lastSequenceAtOpen;
    if (signal) {
      if (signal.aborted) this.close();
      else signal.addEventListener("abort", () => this.close(), { once: true });
    }
  }

  close(): void {
    this.unsubscribe();
    this.unsubscribe = () => {};
    this.queue.finish("closed");
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatEvent> {
    if (this.iterated) throw new Error("a RoomStream can be iterated only once");
    this.iterated = true;
    return this.events();
  }

  private fellBehind(): ResourceExhaustedError {
    return new ResourceExhaustedError(`subscriber fell behind; resume with after_sequence ${this.lastDelivered}`);
  }

  /** The log lacks messages the bus announced: never expected, but never skipped silently. */
  private logGap(upTo: bigint): UnavailableError {
    return new UnavailableError(
      `messages ${this.lastDelivered + 1n}-${upTo} of room "${this.options.room}" cannot be read yet; resume with after_sequence ${this.lastDelivered}`,
    );
  }

  /**
   * The stored messages after lastDelivered (and before `before`, when set), page by page.
   * Yields each page; the caller advances lastDelivered as it hands the messages out.
   */
  private async *pagesFromLog(before?: bigint): AsyncGenerator<StoredMessage[]> {
    const { room, log, signal } = this.options;
    const limit = this.options.pageSize ?? HISTORY_PAGE_SIZE;
    while (before === undefined || this.lastDelivered + 1n < before) {
      // The stream's signal reaches the database: a stream that ends cancels the read it waits for.
      const page = await log.read(
        room,
        { afterSequence: this.lastDelivered, beforeSequence: before, limit },
        { signal },
      );
      let expected = this.lastDelivered + 1n;
      for (const message of page) {
        if (message.sequence !== expected) throw this.logGap(message.sequence - 1n);
        expected++;
      }
      if (page.length > 0) yield page;
      if (page.length < limit) break;
    }
    if (before !== undefined && this.lastDelivered + 1n < before) throw this.logGap(before - 1n);
  }

  private async *events(): AsyncGenerator<ChatEvent> {
    try {
      if (this.options.afterSequence !== undefined) {
        // History: all the log holds after the resume point, including what arrives meanwhile.
        for await (const page of this.pagesFromLog()) {
          for (const message of page) {
            if (this.queue.state === "closed") return;
            if (this.queue.state === "overflow") throw this.fellBehind();
            yield { kind: "message", message };
            this.lastDelivered = message.sequence;
          }
          this.queue.dropMessagesUpTo(this.lastDelivered);
        }
      }
      while (true) {
        const take = await this.queue.take();
        if (take.kind === "closed") return;
        if (take.kind === "overflow") throw this.fellBehind();
        const { event } = take;
        if (event.kind === "presence") {
          yield event;
          continue;
        }
        const { sequence } = event.message;
        if (sequence <= this.lastDelivered) continue;
        if (sequence > this.lastDelivered + 1n) {
          // A gap: the bus reordered or lost messages (possible across replicas). The log has them.
          for await (const page of this.pagesFromLog(sequence)) {
            for (const message of page) {
              if (this.queue.state === "closed") return;
              yield { kind: "message", message };
              this.lastDelivered = message.sequence;
            }
          }
        }
        yield event;
        this.lastDelivered = sequence;
      }
    } finally {
      this.close();
    }
  }
}

/**
 * Opens a stream of one room's events. It subscribes to the bus FIRST (live events wait in a
 * bounded queue), THEN reads the log: with `afterSequence`, the stored messages after it, page by
 * page, and then the live events; without it, live events only, from the room's last sequence at
 * subscription. Every message sequence is delivered exactly once and in order: live messages at
 * or below the last delivered one are dropped, and a live message past a gap waits until the gap
 * is filled from the log.
 *
 * When the consumer is slow and more than `bufferLimit` live events wait, the stream stops
 * listening at once (the publisher never waits) and its next read throws ResourceExhaustedError
 * telling the client which after_sequence to resume with. Resolves once subscribed; throws
 * InvalidArgumentError when `afterSequence` is beyond the room's last message.
 */
export async function openRoomStream(options: RoomStreamOptions): Promise<RoomStream> {
  const stream = new RoomStreamImpl(options);
  await stream.open();
  return stream;
}
