/** How long and how thoroughly a run measures. */
export interface Profile {
  name: "smoke" | "quick" | "full";
  /** Seconds per measured point; undefined measures `calls` calls instead (the smoke run). */
  pointS: number | undefined;
  /** Calls per point when `pointS` is undefined. */
  calls: number;
  /** Seconds of discarded load before a point's repetitions (0: none). */
  warmupS: number;
  /** Repetitions of every point, servers interleaved (A B C A B C ...). */
  reps: number;
  /** Users ListUsers streams. */
  listUsers: number;
  /** Users per CreateUsers call. */
  bulk: number;
  /** ghz concurrency levels of the closed-loop unary points. */
  concurrencies: number[];
  /** Per-core (server and load generator on different cores) and whole-box. */
  modes: Array<"per-core" | "whole-box">;
  /** Chat fan-out: subscribers in the room, and messages per second the sender sends. */
  fanoutSubscribers: number[];
  fanoutRate: number;
  /** Calls per second of the Envoy hop comparison. */
  envoyRate: number;
}

export const profiles: Record<Profile["name"], Profile> = {
  // The test suite's run: proves the harness works end to end; its numbers mean nothing.
  smoke: {
    name: "smoke",
    pointS: undefined,
    calls: 300,
    warmupS: 0,
    reps: 1,
    listUsers: 200,
    bulk: 50,
    concurrencies: [16],
    modes: ["per-core"],
    fanoutSubscribers: [1, 10],
    fanoutRate: 100,
    envoyRate: 200,
  },
  quick: {
    name: "quick",
    pointS: 2,
    calls: 0,
    warmupS: 1,
    reps: 3,
    listUsers: 10_000,
    bulk: 1000,
    concurrencies: [1, 16, 64],
    modes: ["per-core", "whole-box"],
    fanoutSubscribers: [1, 10, 100],
    fanoutRate: 1000,
    envoyRate: 2000,
  },
  full: {
    name: "full",
    pointS: 5,
    calls: 0,
    warmupS: 2,
    reps: 3,
    listUsers: 10_000,
    bulk: 1000,
    concurrencies: [1, 16, 64],
    modes: ["per-core", "whole-box"],
    fanoutSubscribers: [1, 10, 100],
    fanoutRate: 1000,
    envoyRate: 2000,
  },
};

/** BENCH_PROFILE (quick by default). */
export function profileFrom(name: string | undefined): Profile {
  const profile = profiles[(name ?? "quick") as Profile["name"]];
  if (!profile) throw new Error(`BENCH_PROFILE must be one of ${Object.keys(profiles).join(", ")}, not "${name}"`);
  return profile;
}
