import type { MachineInfo } from "./machine.js";
import type { Profile } from "./profiles.js";
import type { PointResult } from "./runner.js";

/**
 * Everything one run wrote down. Its own module: `bench.ts` produces it and `report.ts` renders
 * it, and neither has to import the other for its shape.
 */
export interface BenchResults {
  profile: Profile;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  servers: Record<string, string>;
  points: PointResult[];
  /** Scenarios or servers that did not run, with the reason. */
  skipped: Array<{ what: string; reason: string }>;
}
