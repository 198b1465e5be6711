import { readFileSync } from "node:fs";

/** One row of a profile summary: a function, or a package, with its share of the samples. */
export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  /** Self time as a share of the samples in the window. */
  percent: number;
  /** Time with this function anywhere on the stack (functions only). */
  totalMs: number;
}

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a script URL belongs: an npm package, a workspace package, Node itself, or V8. */
export function ownerOf(url: string): string {
  if (url === "") return "(V8 / native)";
  if (url.startsWith("node:")) return "node (internals)";
  const modules = url.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const [scopeOrName, name] = url.slice(modules + "/node_modules/".length).split("/");
    return scopeOrName!.startsWith("@") ? `${scopeOrName}/${name}` : scopeOrName!;
  }
  const workspace = /\/(packages|apps|bench)\/([^/]+)\//.exec(url);
  if (workspace) return workspace[1] === "bench" ? "bench" : `@polyrpc/${workspace[2]}`;
  return url;
}

/**
 * Self time by function and by owner (package) of a `node --cpu-prof` profile, largest first.
 * `window` keeps only the samples taken between two `process.hrtime.bigint()` readings (in µs;
 * V8's profile clock is the same monotonic clock), so start-up does not count.
 */
export function summariseCpuProfile(
  path: string,
  window?: { fromUs: number; toUs: number },
): { total: number; functions: SelfTime[]; owners: SelfTime[] } {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || "(anonymous)"} ${f.url}:${f.lineNumber}`;
  };
  const selfUs = new Map<number, number>();
  const inclusiveUs = new Map<string, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const key = keyOf(n);
      if (seen.has(key)) continue; // recursion counts once
      seen.add(key);
      inclusiveUs.set(key, (inclusiveUs.get(key) ?? 0) + delta);
    }
  });
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const functions = new Map<string, SelfTime>();
  const owners = new Map<string, SelfTime>();
  const add = (table: Map<string, SelfTime>, key: string, name: string, where: string, us: number) => {
    const row = table.get(key) ?? { name, where, selfMs: 0, percent: 0, totalMs: (inclusiveUs.get(key) ?? 0) / 1000 };
    row.selfMs += us / 1000;
    row.percent += (100 * us) / totalUs;
    table.set(key, row);
  };
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || "(anonymous)";
    const file = frame.url.replace(/^file:\/\//, "");
    const short = file.includes("/node_modules/")
      ? file.slice(file.lastIndexOf("/node_modules/") + 14)
      : file.replace(/^.*\/work\/main\//, "");
    add(functions, keyOf(id), name, short ? `${short}:${frame.lineNumber + 1}` : "", us);
    const owner = ownerOf(file);
    add(owners, owner, owner, "", us);
  }
  const sorted = (t: Map<string, SelfTime>) => [...t.values()].sort((a, b) => b.selfMs - a.selfMs);
  return { total: totalUs / 1000, functions: sorted(functions), owners: sorted(owners) };
}

/** The functions with the most time on the stack, for the "where does a call's time go" view. */
export function topInclusive(
  summary: { functions: SelfTime[] },
  filter: (row: SelfTime) => boolean,
  n: number,
): SelfTime[] {
  return summary.functions
    .filter(filter)
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, n);
}
