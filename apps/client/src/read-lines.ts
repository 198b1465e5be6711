import { createInterface } from "node:readline";

/**
 * The lines of a text stream (without line endings), read as they arrive. Aborting `signal` ends
 * them early, even while waiting for the next line, and stops reading the stream.
 */
export async function* readLines(
  input: NodeJS.ReadableStream,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<string> {
  const { signal } = options;
  if (signal?.aborted) return;
  const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
  const close = () => lines.close();
  signal?.addEventListener("abort", close, { once: true });
  try {
    yield* lines;
  } finally {
    signal?.removeEventListener("abort", close);
    lines.close();
  }
}
