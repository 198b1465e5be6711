import { Code, ConnectError } from "@connectrpc/connect";
import type { CallTaps } from "../call-hooks.js";
import { racing } from "../racing.js";

/**
 * A handler's response stream that can be ended from outside (`ended` rejects: shutdown ending
 * the call), that reports its end code once to `finish` (undefined for OK), and that stops the
 * handler's generator too, so that it releases what it holds.
 */
export async function* endable<T>(
  messages: AsyncIterable<T>,
  ended: Promise<never>,
  finish: (code: Code | undefined) => void,
  signal: AbortSignal,
): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  const untilEnded = racing(ended);
  let code: Code | undefined;
  try {
    while (true) {
      const next = await untilEnded(iterator.next());
      if (next.done) return;
      yield next.value;
    }
  } catch (err) {
    code = err instanceof ConnectError ? err.code : Code.Internal;
    throw err;
  } finally {
    if (signal.aborted && code === undefined) code = Code.Canceled;
    // Stops the handler's generator too, so that it releases what it holds.
    void iterator.return?.();
    finish(code);
  }
}

/**
 * A handler's response stream shown to the call's taps message by message, ended early when
 * `aborted` rejects (a hook ending the call), with `end` told how it ended.
 */
export async function* tapResponses<T>(
  messages: AsyncIterable<T>,
  taps: CallTaps,
  aborted: Promise<never>,
  end: (err: unknown) => void,
): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  const untilAborted = racing(aborted);
  try {
    while (true) {
      const next = await untilAborted(iterator.next());
      if (next.done) break;
      taps.response(next.value);
      yield next.value;
    }
    end(undefined);
  } catch (err) {
    end(err);
    throw err;
  } finally {
    void iterator.return?.();
  }
}
