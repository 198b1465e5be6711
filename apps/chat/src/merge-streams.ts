type Settled<T> = { index: number; result: IteratorResult<T> };

/**
 * Interleaves several async iterables in arrival order. Each source is pulled only when the
 * consumer asks for more (one value in hand at most), so back-pressure reaches every source.
 * Ends as soon as any source ends, and throws as soon as any source throws; the other sources are
 * then told to return, without waiting for them (one may be blocked on a read of its own).
 */
export async function* mergeStreams<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<Settled<T>>>();
  const pull = (index: number) =>
    pending.set(
      index,
      iterators[index]!.next().then((result) => ({ index, result })),
    );
  iterators.forEach((_, index) => pull(index));
  try {
    while (true) {
      const { index, result } = await Promise.race(pending.values());
      pending.delete(index);
      if (result.done) return;
      yield result.value;
      pull(index);
    }
  } finally {
    // Reads still in flight settle later; nobody awaits them, so they must not reject unhandled.
    for (const read of pending.values()) read.catch(() => {});
    for (const iterator of iterators) iterator.return?.().catch(() => {});
  }
}
