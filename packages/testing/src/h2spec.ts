import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCommand } from "./command-session.js";

/** The h2spec binary scripts/setup.d/45-h2spec.sh builds (v2.2.1). */
export const h2specPath = join(import.meta.dirname, "../../../.tools/bin/h2spec");

/**
 * How many cases h2spec v2.2.1 runs against a server (generic, http2 and hpack). A run that
 * reports fewer did not get through the suite, whatever its cases say.
 */
export const H2SPEC_CASE_COUNT = 145;

/** How one h2spec case ended. */
export type H2specOutcome = "passed" | "failed" | "skipped";

/** One h2spec case of a run. */
export interface H2specCase {
  /** What `h2spec <id>` runs alone: the section and the case's number in it, as `http2/6.5.3/1`. */
  id: string;
  /** What the case sends, as h2spec titles it. */
  title: string;
  outcome: H2specOutcome;
  /** For a failed case: what h2spec expected and what it got instead; empty otherwise. */
  message: string;
}

/** Where h2spec connects. */
export interface H2specTarget {
  /** 127.0.0.1 by default. */
  host?: string;
  port: number;
  /** TLS with ALPN h2 (`-t`), the certificate not verified (`-k`). Without it, h2c with prior knowledge. */
  tls?: boolean;
  /**
   * How long h2spec waits for each expected frame (`--timeout`, seconds); 2 by default, as
   * h2spec's own. Every listed failure that ends in a timeout costs this long.
   */
  timeoutSeconds?: number;
}

/** A finished h2spec run. */
export interface H2specRun {
  cases: H2specCase[];
  /** What h2spec printed, for a failure message. */
  output: string;
}

/**
 * Runs the whole h2spec suite against `target` and returns its cases, read from the JUnit report.
 * h2spec's exit code says only whether some case failed; the report says which.
 */
export async function runH2spec(target: H2specTarget): Promise<H2specRun> {
  if (!existsSync(h2specPath)) {
    throw new Error(`${h2specPath} is missing: run bash scripts/setup.sh (step scripts/setup.d/45-h2spec.sh)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "polyrpc-h2spec-"));
  try {
    const report = join(dir, "junit.xml");
    const args = ["-h", target.host ?? "127.0.0.1", "-p", String(target.port)];
    if (target.tls) args.push("-t", "-k");
    args.push("-j", report, "--timeout", String(target.timeoutSeconds ?? 2));
    const run = await startCommand(h2specPath, args, { timeoutMs: 180_000 }).finished;
    const output = run.stdout + run.stderr;
    if (!existsSync(report)) throw new Error(`h2spec ${args.join(" ")} wrote no report (exit ${run.code}):\n${output}`);
    return { cases: parseH2specJunit(readFileSync(report, "latin1")), output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The cases of an h2spec JUnit report. h2spec writes one `<testsuite package="http2/6.5.3">` per
 * section, its `<testcase>`s in the order it numbers them (from 1), a failure as `<error>` with the
 * expected frames on a line each and what came instead on the last line, and `<skipped>` when the
 * server gave it nothing to test with (a response without a body, say). The report may hold raw
 * bytes of the frames it printed (PING data), so it is read as latin1 and not as XML proper.
 */
export function parseH2specJunit(xml: string): H2specCase[] {
  const cases: H2specCase[] = [];
  for (const suite of xml.matchAll(/<testsuite\b([^>]*)>([\s\S]*?)<\/testsuite>/g)) {
    const section = attribute(suite[1]!, "package");
    if (section === undefined) throw new Error(`an h2spec test suite without a package: <testsuite${suite[1]}>`);
    let number = 0;
    for (const testcase of suite[2]!.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
      number++;
      const body = testcase[2] ?? "";
      const error = /<(error|failure)\b[^>]*>([\s\S]*?)<\/\1>/.exec(body);
      const outcome: H2specOutcome = error ? "failed" : /<skipped\b/.test(body) ? "skipped" : "passed";
      cases.push({
        id: `${section}/${number}`,
        title: decodeEntities(attribute(testcase[1]!, "classname") ?? ""),
        outcome,
        message: error ? failureMessage(decodeEntities(error[2]!)) : "",
      });
    }
  }
  return cases;
}

/** `expected A or B; got C` from h2spec's lines: the expected frames, then what it got. */
function failureMessage(text: string): string {
  // Frame payloads (PING's opaque data) come as raw bytes; keep the message printable.
  const lines = text
    .split("\n")
    .map((line) => line.replace(/[^\x20-\x7e]/g, "").trim())
    .filter((line) => line !== "");
  if (lines.length < 2) return lines.join("");
  return `expected ${lines.slice(0, -1).join(" or ")}; got ${lines.at(-1)}`;
}

function attribute(attributes: string, name: string): string | undefined {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(attributes)?.[1];
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|lt|gt|amp|quot|apos);/gi, (_, entity: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
    if (entity[0] !== "#") return named[entity.toLowerCase()]!;
    return String.fromCodePoint(
      entity[1] === "x" || entity[1] === "X" ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)),
    );
  });
}

/** Whose behaviour a known failure is. */
export type H2specFailureOwner = "Node's HTTP/2" | "Envoy" | "ours";

/** Why a case does not pass against a target, and how it ends instead. */
export interface KnownH2specFailure {
  whose: H2specFailureOwner;
  /** What the server does instead of what the case expects, and why. */
  reason: string;
  /**
   * How the case ends: `failed` (the default) or `skipped`, every time; `failed or passed` only for
   * a case whose outcome is decided by timing the target does not control (said in `reason`).
   */
  expected?: "failed" | "skipped" | "failed or passed";
}

/** Known failures of one target, by case id (`http2/6.9.1/2`). */
export type KnownH2specFailures = Readonly<Record<string, KnownH2specFailure>>;

/** How a run compares with a target's known failures. */
export interface H2specVerdict {
  /** One line per case that did not end as listed (unlisted cases must pass); empty when all did. */
  problems: string[];
  passed: number;
  failed: number;
  skipped: number;
  /** Cases the known failures list, of those the run had. */
  listed: number;
}

/**
 * Compares a run with the target's known failures: every unlisted case must pass, a listed case
 * must end as listed (so a listed case that starts passing shows up, and the list stays true), a
 * skipped case counts as a problem unless listed as skipped, and the whole suite must have run.
 */
export function judgeH2spec(cases: readonly H2specCase[], known: KnownH2specFailures): H2specVerdict {
  const problems: string[] = [];
  const counts = { passed: 0, failed: 0, skipped: 0 };
  if (cases.length !== H2SPEC_CASE_COUNT) {
    problems.push(`h2spec reported ${cases.length} cases, not the suite's ${H2SPEC_CASE_COUNT}`);
  }
  const seen = new Set<string>();
  for (const testCase of cases) {
    counts[testCase.outcome]++;
    seen.add(testCase.id);
    const listed = known[testCase.id];
    const what = `${testCase.id} (${testCase.title})`;
    const detail = testCase.message ? `: ${testCase.message}` : "";
    if (!listed) {
      if (testCase.outcome !== "passed") problems.push(`${what} ${testCase.outcome}${detail}`);
      continue;
    }
    const expected = listed.expected ?? "failed";
    const allowed = expected === "failed or passed" ? ["failed", "passed"] : [expected];
    if (!allowed.includes(testCase.outcome)) {
      problems.push(
        `${what} ${testCase.outcome}${detail}, but it is listed as ${expected} (${listed.whose}: ${listed.reason})`,
      );
    }
  }
  for (const id of Object.keys(known)) {
    if (!seen.has(id)) problems.push(`${id} is listed as a known failure, but h2spec ran no such case`);
  }
  return { problems, ...counts, listed: Object.keys(known).filter((id) => seen.has(id)).length };
}

/** A run judged against a target's known failures. */
export interface H2specCheck extends H2specVerdict {
  /** `145 cases: 127 passed, 14 failed, 4 skipped; 24 listed as known failures`, for the log. */
  summary: string;
  /** The end of what h2spec printed, for an assertion's message. */
  output: string;
}

/** Runs h2spec against `target` and judges the run against its known failures (see judgeH2spec). */
export async function checkH2spec(target: H2specTarget, known: KnownH2specFailures): Promise<H2specCheck> {
  const run = await runH2spec(target);
  const verdict = judgeH2spec(run.cases, known);
  const summary =
    `${run.cases.length} cases: ${verdict.passed} passed, ${verdict.failed} failed, ${verdict.skipped} skipped;` +
    ` ${verdict.listed} listed as known failures`;
  return { ...verdict, summary, output: run.output.slice(-4000) };
}
