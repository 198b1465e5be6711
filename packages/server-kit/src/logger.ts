import { pino, type Logger as PinoLogger, type DestinationStream, type LevelWithSilent } from "pino";

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** The service name, written on every line as `service`. */
  name: string;
  level?: LevelWithSilent;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

/**
 * Lines wait in memory until this many bytes are buffered (or STDOUT_FLUSH_MS pass), so that a
 * busy server makes one write per ~20 lines instead of one per call.
 */
const STDOUT_MIN_WRITE = 3584;
/**
 * No write is longer than PIPE_BUF (4 KiB on Linux): a write that long to a pipe is atomic, so the
 * lines of processes sharing one stdout (cluster workers) never interleave mid-line.
 */
const STDOUT_MAX_WRITE = 4096;
/** How long a line may wait in memory: a quiet service's lines still show up at once. */
const STDOUT_FLUSH_MS = 100;
/** At exit, how many times to wait 100 ms for a reader that lets stdout's pipe fill up. */
const EXIT_RETRIES = 50;

/** pino's destination: a sonic-boom stream (whose types leave out `destroyed`). */
type SonicBoom = ReturnType<typeof pino.destination> & { readonly destroyed: boolean; minLength: number };

let stdout: SonicBoom | undefined;

/**
 * The one buffered stdout stream of the process, shared by its loggers so that their lines keep
 * their order.
 *
 * Its writes are synchronous (a 4 KiB write costs less than a trip through libuv's thread pool),
 * so no write is ever in flight: when the process exits (process.exit(), after exitOnSignals'
 * shutdown, an uncaught exception, an empty event loop), writing out the buffer loses no line.
 * An asynchronous write still running at exit would be lost.
 *
 * stdout is usually a non-blocking pipe: when it is full (EAGAIN), lines stay buffered until a
 * periodic flush gets through, instead of sleeping in sonic-boom's retry, which would stall calls.
 */
function stdoutDestination(): SonicBoom {
  if (stdout && !stdout.destroyed) return stdout;
  let exitRetries = -1;
  const stream = pino.destination({
    dest: 1,
    sync: true,
    minLength: STDOUT_MIN_WRITE,
    maxWrite: STDOUT_MAX_WRITE,
    periodicFlush: STDOUT_FLUSH_MS,
    retryEAGAIN: () => exitRetries >= 0 && ++exitRetries <= EXIT_RETRIES,
  }) as SonicBoom;
  // pino's own listener drops the lines when stdout is closed (EPIPE), but only until the first
  // other error, which it re-emits.
  stream.on("error", (err: NodeJS.ErrnoException) => {
    // The pipe is full: leave the next try to the periodic flush rather than try on every line.
    if (err.code === "EAGAIN" || err.code === "EBUSY") return void (stream.minLength = Infinity);
    if (err.code === "EPIPE") return stopWriting(stream);
    // As before, when nothing handled the stream's errors: the process fails.
    process.nextTick(() => {
      throw err;
    });
  });
  stream.on("write", () => (stream.minLength = STDOUT_MIN_WRITE));
  process.on("exit", () => {
    if (stream.destroyed) return;
    exitRetries = 0;
    try {
      stream.flushSync();
    } catch {
      // stdout is gone or stays full: nothing more can be written.
    }
  });
  stdout = stream;
  return stream;
}

/** What pino does to a destination whose reader went away: every later line is dropped. */
function stopWriting(stream: SonicBoom): void {
  const noop = () => {};
  const flush = (cb?: (err?: Error) => void) => cb?.();
  Object.assign(stream, { write: () => true, flush, flushSync: noop, end: noop, destroy: noop });
}

/** `"000Z"` to `"999Z"`: the end of a time field, by millisecond. */
const MILLIS = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, "0")}Z"`);
let second = NaN;
/** `,"time":"2024-05-01T12:34:56.` for `second`. */
let secondPrefix = "";

/**
 * pino.stdTimeFunctions.isoTime (`,"time":"2024-05-01T12:34:56.789Z"`), formatting the date
 * once a second instead of on every line, where toISOString() was a third of a line's cost.
 */
export function isoTime(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== second) {
    secondPrefix = `,"time":"${new Date(s * 1000).toISOString().slice(0, 20)}`;
    second = s;
  }
  return secondPrefix + MILLIS[now - s * 1000]!;
}

/** A pino logger writing one JSON object per line, as log collectors in Kubernetes expect. */
export function createLogger({ name, level = "info", destination }: LoggerOptions): Logger {
  return pino(
    {
      base: { service: name },
      level,
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? stdoutDestination(),
  );
}
