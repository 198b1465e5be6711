import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchResults } from "./results.js";
import type { PointResult } from "./runner.js";
import type { Spread } from "./stats.js";

/** The metric a scenario's chart shows, and whether more is better. */
const PRIMARY: Record<string, { metric: string; unit: string; higherIsBetter: boolean }> = {
  rps: { metric: "rps", unit: "calls/s", higherIsBetter: true },
  messagesPerS: { metric: "messagesPerS", unit: "messages/s", higherIsBetter: true },
  usersPerS: { metric: "usersPerS", unit: "users/s", higherIsBetter: true },
  p50Us: { metric: "p50Us", unit: "µs round trip (p50)", higherIsBetter: false },
  p99Ms: { metric: "p99Ms", unit: "ms delivery p99", higherIsBetter: false },
};

function primaryOf(point: PointResult) {
  if (point.params.rate !== undefined && point.metrics.p99Ms) return PRIMARY.p99Ms!;
  for (const key of ["messagesPerS", "usersPerS", "p50Us", "rps"]) if (point.metrics[key]) return PRIMARY[key]!;
  return PRIMARY.rps!;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString("en-US");
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function cell(s: Spread | undefined): string {
  if (!s) return "–";
  return s.runs.length > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median);
}

function paramsLabel(params: PointResult["params"]): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}

/** Points grouped by scenario and mode, in run order. */
function groups(points: readonly PointResult[]): Map<string, PointResult[]> {
  const out = new Map<string, PointResult[]>();
  for (const p of points) {
    const key = `${p.scenario} — ${p.mode}`;
    out.set(key, [...(out.get(key) ?? []), p]);
  }
  return out;
}

/** The best median throughput of `server` in `scenario` and `mode` (closed-loop points only). */
export function bestRps(points: readonly PointResult[], scenario: string, mode: string, server: string): number {
  return Math.max(
    0,
    ...points
      .filter((p) => p.scenario === scenario && p.mode === mode && p.server === server && p.params.rate === undefined)
      .map((p) => p.metrics.rps?.median ?? 0),
  );
}

/** polyrpc's throughput as a multiple of the docs' servers'. */
export function ratios(results: BenchResults): Array<{ scenario: string; mode: string; vs: string; ratio: number }> {
  const out: Array<{ scenario: string; mode: string; vs: string; ratio: number }> = [];
  for (const scenario of ["unary GetUser", "unary CreateUser"]) {
    for (const mode of ["per-core", "whole-box"]) {
      const ours = bestRps(results.points, scenario, mode, "polyrpc");
      for (const vs of ["go", "python"]) {
        const theirs = bestRps(results.points, scenario, mode, vs);
        if (ours > 0 && theirs > 0) out.push({ scenario, mode, vs, ratio: ours / theirs });
      }
    }
  }
  const grpcJs = bestRps(results.points, "runtimes GetUser", "per-core", "grpc-js");
  const connect = bestRps(results.points, "runtimes GetUser", "per-core", "connect-node");
  if (grpcJs > 0 && connect > 0)
    out.push({
      scenario: "runtimes GetUser",
      mode: "per-core",
      vs: "grpc-js (connect-node ÷ grpc-js)",
      ratio: connect / grpcJs,
    });
  return out;
}

/** The results as markdown: machine, ratios, one table per scenario and mode. */
export function markdown(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    `# Benchmark results (${results.profile.name})`,
    "",
    `Run ${results.startedAt}, ${results.durationS} s. Each point: ${results.profile.reps} repetition(s)` +
      (results.profile.pointS
        ? ` of ${results.profile.pointS} s after ${results.profile.warmupS} s of warm-up`
        : ` of ${results.profile.calls} calls`) +
      ", servers interleaved; cells are medians (min–max).",
    "",
    "| machine | |",
    "| --- | --- |",
    `| CPU | ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB |`,
    `| kernel | ${m.kernel} |`,
    `| runtimes | Node ${m.node}; ${m.go}; ${m.python} |`,
    `| load generators | ${m.ghz}; ${m.h2load} |`,
    `| load average at start | ${m.loadAverage.join(", ")} |`,
    "",
    "## Servers",
    "",
    ...Object.entries(results.servers).map(([name, description]) => `- \`${name}\`: ${description}`),
    "",
  ];
  const r = ratios(results);
  if (r.length > 0) {
    lines.push(
      "## Ratios (best closed-loop throughput)",
      "",
      "| scenario | mode | vs | ratio |",
      "| --- | --- | --- | --- |",
    );
    for (const x of r) lines.push(`| ${x.scenario} | ${x.mode} | ${x.vs} | ${x.ratio.toFixed(2)}x |`);
    lines.push("");
  }
  for (const [title, points] of groups(results.points)) {
    const metrics = [...new Set(points.flatMap((p) => Object.keys(p.metrics)))];
    lines.push(`## ${title}`, "", `![${title}](charts/${slug(title)}.svg)`, "");
    lines.push(
      `| params | server | ${metrics.join(" | ")} | server CPU (cores) | peak RSS (MiB) | load generator CPU | errors |`,
    );
    lines.push(`| ${["---", "---", ...metrics.map(() => "---:"), "---:", "---:", "---:", "---"].join(" | ")} |`);
    for (const p of points) {
      const errors =
        Object.entries(p.errors)
          .map(([k, n]) => `${k}: ${n}`)
          .join("; ") || "none";
      lines.push(
        `| ${paramsLabel(p.params)} | ${p.server} | ${metrics.map((k) => cell(p.metrics[k])).join(" | ")} | ${cell(p.serverCpuCores)} | ${cell(p.serverPeakRssMiB)} | ${p.loadgen} ${cell(p.loadgenCpuCores)} | ${errors} |`,
      );
    }
    lines.push("");
  }
  if (results.skipped.length > 0) {
    lines.push("## Not measured", "");
    for (const s of results.skipped) lines.push(`- ${s.what}: ${s.reason}`);
    lines.push("");
  }
  return lines.join("\n");
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);
}

const COLORS = ["#3b6fb6", "#e08a2e", "#4c9a55", "#b0413e", "#7a5ea8", "#8c8c8c"];

/** A grouped bar chart: one group per parameter set, one bar per server, min–max whiskers. */
export function svgChart(title: string, points: readonly PointResult[]): string {
  const primary = primaryOf(points[0]!);
  const servers = [...new Set(points.map((p) => p.server))];
  const params = [...new Set(points.map((p) => paramsLabel(p.params)))];
  const value = (p: PointResult) => p.metrics[primary.metric];
  const top = Math.max(1e-9, ...points.map((p) => value(p)?.max ?? 0)) * 1.1;
  const barW = 22;
  const groupW = servers.length * barW + 30;
  const left = 70;
  const plotH = 220;
  const topPad = 40;
  const width = Math.max(420, left + params.length * groupW + 20);
  const height = topPad + plotH + 90;
  const y = (v: number) => topPad + plotH - (v / top) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${left}" y="32" fill="#555">${escapeXml(primary.unit)}, median with min–max (${primary.higherIsBetter ? "higher" : "lower"} is better)</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (top / 4) * i;
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${escapeXml(fmt(v))}</text>`);
  }
  params.forEach((label, g) => {
    const x0 = left + 15 + g * groupW;
    servers.forEach((server, s) => {
      const p = points.find((q) => q.server === server && paramsLabel(q.params) === label);
      const v = p && value(p);
      if (!v) return;
      const x = x0 + s * barW;
      out.push(
        `<rect x="${x}" y="${y(v.median)}" width="${barW - 4}" height="${y(0) - y(v.median)}" fill="${COLORS[s % COLORS.length]}"><title>${escapeXml(`${server} ${label}: ${fmt(v.median)}`)}</title></rect>`,
      );
      const cx = x + (barW - 4) / 2;
      out.push(`<line x1="${cx}" x2="${cx}" y1="${y(v.max)}" y2="${y(v.min)}" stroke="#222"/>`);
    });
    out.push(
      `<text x="${x0 + (servers.length * barW) / 2}" y="${topPad + plotH + 14}" text-anchor="middle">${escapeXml(label)}</text>`,
    );
  });
  servers.forEach((server, s) => {
    const x = left + (s % 4) * 150;
    const ly = topPad + plotH + 36 + Math.floor(s / 4) * 16;
    out.push(`<rect x="${x}" y="${ly - 9}" width="10" height="10" fill="${COLORS[s % COLORS.length]}"/>`);
    out.push(`<text x="${x + 14}" y="${ly}">${escapeXml(server)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** Writes results.json, results.md and charts/*.svg into `dir`. */
export function writeReport(results: BenchResults, dir: string): void {
  mkdirSync(join(dir, "charts"), { recursive: true });
  writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(dir, "results.md"), markdown(results) + "\n");
  for (const [title, points] of groups(results.points))
    writeFileSync(join(dir, "charts", `${slug(title)}.svg`), svgChart(title, points));
}
