/**
 * A token bucket: holds up to `capacity` tokens, refills at `ratePerSecond`, and each admitted
 * event takes one token. A bucket that has not been used for `fullAfterMs` is full again, the same
 * as a new one, so dropping it loses nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Takes a token if there is one; `now` in milliseconds, from a monotonic-enough clock. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  get fullAfterMs(): number {
    return (this.capacity / this.ratePerSecond) * 1000;
  }
}

/**
 * Per-key state kept in least-recently-used order with bounded memory: entries idle for
 * `idleMs` are dropped as soon as any key is touched (cheap: only the oldest entries are looked
 * at), and past `maxKeys` the least recently used entry goes.
 */
export class IdleMap<V> {
  private readonly entries = new Map<string, { value: V; seen: number }>();

  constructor(
    private readonly idleMs: number,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value for `key`, created with `create` when absent or evicted; marks it used at `now`. */
  touch(key: string, now: number, create: () => V): V {
    this.evictIdle(now);
    const entry = this.entries.get(key);
    // Re-inserting moves the key to the end: the map's order is the order of last use.
    if (entry) this.entries.delete(key);
    const value = entry ? entry.value : create();
    this.entries.set(key, { value, seen: now });
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  private evictIdle(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.seen < this.idleMs) return;
      this.entries.delete(key);
    }
  }
}
