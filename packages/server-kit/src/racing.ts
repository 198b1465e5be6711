/**
 * Races promise after promise against one long-lived promise that only ever rejects (a stream's
 * end from outside), settling like `Promise.race([promise, stop])`. A `Promise.race` per message
 * would leave a reaction on `stop` for every message until `stop` settles, which for a long
 * stream is never: about 300 bytes a message, kept for the life of the stream. Here `stop` gets
 * one reaction for the whole stream.
 */
export function racing(stop: Promise<never>): <T>(promise: Promise<T>) => Promise<T> {
  let stopped: { error: unknown } | undefined;
  let rejectCurrent: ((error: unknown) => void) | undefined;
  stop.catch((error: unknown) => {
    stopped = { error };
    rejectCurrent?.(error);
  });
  return (promise) => {
    if (stopped) {
      promise.catch(() => {});
      return Promise.reject(stopped.error);
    }
    return new Promise((resolve, reject) => {
      rejectCurrent = reject;
      promise.then(resolve, reject);
    });
  };
}
