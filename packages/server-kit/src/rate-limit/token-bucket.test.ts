import { describe, expect, it } from "vitest";
import { IdleMap, TokenBucket } from "./token-bucket.js";

describe("TokenBucket", () => {
  it("admits a burst of its capacity, then refills at its rate", () => {
    const bucket = new TokenBucket(10, 10, 0);
    expect(Array.from({ length: 11 }, () => bucket.take(0))).toEqual([...Array(10).fill(true), false]);
    expect(bucket.take(50)).toBe(false); // half a token
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(100)).toBe(false);
  });

  it("never holds more than its capacity however long it idles", () => {
    const bucket = new TokenBucket(10, 10, 0);
    const admitted = Array.from({ length: 20 }, () => bucket.take(60_000)).filter(Boolean);
    expect(admitted).toHaveLength(10);
    expect(bucket.fullAfterMs).toBe(1000);
  });
});

describe("IdleMap", () => {
  it("drops entries idle for its idle time, keeping the ones in use", () => {
    const map = new IdleMap<{ n: number }>(1000, 100);
    const a = map.touch("a", 0, () => ({ n: 1 }));
    map.touch("b", 500, () => ({ n: 2 }));
    expect(map.touch("a", 900, () => ({ n: 3 }))).toBe(a);
    map.touch("c", 1600, () => ({ n: 4 })); // b idle for 1100 ms: dropped; a only 700 ms
    expect(map.size).toBe(2);
    expect(map.touch("a", 1600, () => ({ n: 5 }))).toBe(a);
  });

  it("keeps at most maxKeys entries, forgetting the least recently used", () => {
    const map = new IdleMap<number>(60_000, 1000);
    for (let i = 0; i < 5000; i++) map.touch(`subject-${i}`, i, () => i);
    expect(map.size).toBe(1000);
    expect(map.touch("subject-4999", 5000, () => -1)).toBe(4999);
    expect(map.touch("subject-0", 5000, () => -1)).toBe(-1);
  });
});
