import type { ServerDuplexStream, ServerReadableStream } from "@grpc/grpc-js";
import { racing } from "../racing.js";

/**
 * The client's messages as an async iterable that throws CancelledError as soon as the call is
 * cancelled, even while waiting for the next message.
 */
export async function* incoming<T>(
  call: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  signal: AbortSignal,
): AsyncGenerator<T> {
  // Node's default stream iterator destroys the stream when the reading ends, which would also
  // destroy the response side of a bidi call; keep it open.
  const iterator = call.iterator({ destroyOnReturn: false }) as AsyncIterator<T>;
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  // One reaction on `aborted` for the whole stream, not one per message (see racing.ts).
  const untilAborted = racing(aborted);
  try {
    while (true) {
      if (signal.aborted) throw signal.reason;
      const next = await untilAborted(iterator.next());
      if (next.done) return;
      yield next.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
