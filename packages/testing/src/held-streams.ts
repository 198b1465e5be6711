import { Pushable } from "./pushable.js";

/** Options of `openHeldStreams`. */
export interface HeldStreamsOptions<Req> {
  /** How many streams to open, all at once. */
  count: number;
  /** The request each stream opens with; the server's first answer to it shows the stream is served. */
  firstRequest(index: number): Req;
  /** Starts call `index` with `requests` as its request stream, on the connection under test. */
  open(index: number, requests: AsyncIterable<Req>): AsyncIterable<unknown>;
}

/** How one held stream ended. */
export interface HeldStreamOutcome {
  index: number;
  /** Responses it received, the first answer included. */
  responses: number;
  /** The error it ended with; undefined when it completed (status OK). */
  error: string | undefined;
}

/**
 * Streams opened together and held open by the client after the server's first answer, until the
 * test releases them (half-closes their request side). The server answers a stream as soon as it
 * runs its handler, so on one connection with a stream cap of N exactly N are answered while the
 * rest wait, and each release lets one waiting stream in.
 */
export interface HeldStreams {
  /** Streams the server has answered so far. */
  readonly answered: number;
  /** Streams that ended, OK or not. */
  readonly ended: number;
  /** The most streams that were answered and not yet ended at any one time, as the client saw it. */
  readonly maxServedAtOnce: number;
  /** The errors of the streams that failed so far. */
  readonly failures: readonly string[];
  /** Resolves once at least `count` streams were answered; rejects after `timeoutMs`. */
  whenAnswered(count: number, timeoutMs: number): Promise<void>;
  /** Half-closes the earliest answered stream not yet released and resolves once it ended. */
  releaseOne(): Promise<HeldStreamOutcome>;
  /** Half-closes every stream (a waiting one ends once the server has served it) and resolves with every outcome. */
  releaseAll(): Promise<HeldStreamOutcome[]>;
}

/**
 * Opens `count` streams at once and holds each one open after its first answer (see `HeldStreams`),
 * to observe a per-connection stream cap from the client: which streams were served, which had to
 * wait, and whether any failed rather than waited.
 */
export function openHeldStreams<Req>(options: HeldStreamsOptions<Req>): HeldStreams {
  let answered = 0;
  let ended = 0;
  let maxServedAtOnce = 0;
  const failures: string[] = [];
  const answerOrder: number[] = [];
  const released = new Set<number>();
  const waiters: Array<{ count: number; resolve: () => void }> = [];

  const wakeWaiters = () => {
    for (const waiter of [...waiters]) {
      if (answered < waiter.count) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };

  const streams = Array.from({ length: options.count }, (_, index) => {
    const requests = new Pushable<Req>();
    requests.push(options.firstRequest(index));
    const outcome = (async (): Promise<HeldStreamOutcome> => {
      let responses = 0;
      let error: string | undefined;
      try {
        for await (const _ of options.open(index, requests)) {
          if (responses++ === 0) {
            answered++;
            answerOrder.push(index);
            maxServedAtOnce = Math.max(maxServedAtOnce, answered - ended);
            wakeWaiters();
          }
        }
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
        failures.push(`stream ${index}: ${error}`);
      }
      ended++;
      return { index, responses, error };
    })();
    return { requests, outcome };
  });

  const release = (index: number) => {
    released.add(index);
    streams[index]!.requests.end();
    return streams[index]!.outcome;
  };

  return {
    get answered() {
      return answered;
    },
    get ended() {
      return ended;
    },
    get maxServedAtOnce() {
      return maxServedAtOnce;
    },
    failures,
    whenAnswered(count, timeoutMs) {
      if (answered >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${answered} of ${count} streams answered within ${timeoutMs} ms; ${failures.join("; ")}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    releaseOne() {
      const index = answerOrder.find((i) => !released.has(i));
      if (index === undefined) return Promise.reject(new Error("no answered stream is left to release"));
      return release(index);
    },
    releaseAll() {
      return Promise.all(streams.map((_, index) => release(index)));
    },
  };
}
