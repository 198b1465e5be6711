import { describe, expect, it } from "vitest";
import { H2SPEC_CASE_COUNT, judgeH2spec, parseH2specJunit, type H2specCase } from "./h2spec.js";

/** A report as h2spec v2.2.1 writes it, cut down: raw bytes of a PING payload included. */
const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="3.5. HTTP/2 Connection Preface" package="http2/3.5" id="3.5" tests="2" skipped="0" failures="0" errors="1">
    <testcase package="http2/3.5" classname="Sends client connection preface" time="0.0010"></testcase>
    <testcase package="http2/3.5" classname="Sends &#34;invalid&#34; connection preface" time="2.0010">
      <error>GOAWAY Frame (Error Code: PROTOCOL_ERROR)
Connection closed
PING Frame (length:8, flags:0x01, stream_id:0, opaque_data:h2spec\u0000\u0000)</error>
    </testcase>
  </testsuite>
  <testsuite name="6.5.3. Settings Synchronization" package="http2/6.5.3" id="6.5.3" tests="1" skipped="1" failures="0" errors="0">
    <testcase package="http2/6.5.3" classname="Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE" time="0.0015">
      <skipped></skipped>
    </testcase>
  </testsuite>
</testsuites>`;

/** A whole suite's worth of passing cases, with `changes` applied by id. */
function suite(changes: Record<string, H2specCase["outcome"]>): H2specCase[] {
  return Array.from({ length: H2SPEC_CASE_COUNT }, (_, i) => {
    const id = `http2/x/${i + 1}`;
    return { id, title: `case ${i + 1}`, outcome: changes[id] ?? "passed", message: "" };
  });
}

describe("parseH2specJunit", () => {
  it("numbers each section's cases from 1 and reads their outcome and failure message", () => {
    expect(parseH2specJunit(report)).toEqual([
      { id: "http2/3.5/1", title: "Sends client connection preface", outcome: "passed", message: "" },
      {
        id: "http2/3.5/2",
        title: 'Sends "invalid" connection preface',
        outcome: "failed",
        message:
          "expected GOAWAY Frame (Error Code: PROTOCOL_ERROR) or Connection closed; " +
          "got PING Frame (length:8, flags:0x01, stream_id:0, opaque_data:h2spec)",
      },
      {
        id: "http2/6.5.3/1",
        title: "Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE",
        outcome: "skipped",
        message: "",
      },
    ]);
  });
});

describe("judgeH2spec", () => {
  it("accepts a run where every unlisted case passed and every listed one ended as listed", () => {
    const verdict = judgeH2spec(suite({ "http2/x/1": "failed", "http2/x/2": "skipped", "http2/x/3": "passed" }), {
      "http2/x/1": { whose: "Node's HTTP/2", reason: "r" },
      "http2/x/2": { whose: "ours", reason: "r", expected: "skipped" },
      "http2/x/3": { whose: "Node's HTTP/2", reason: "r", expected: "failed or passed" },
    });
    expect(verdict).toEqual({ problems: [], passed: H2SPEC_CASE_COUNT - 2, failed: 1, skipped: 1, listed: 3 });
  });

  it("names an unlisted failure, an unlisted skip, a listed case that passed and a listed case that never ran", () => {
    const { problems } = judgeH2spec(suite({ "http2/x/1": "failed", "http2/x/2": "skipped" }), {
      "http2/x/3": { whose: "Envoy", reason: "r" },
      "http2/y/1": { whose: "Envoy", reason: "r" },
    });
    expect(problems).toEqual([
      "http2/x/1 (case 1) failed",
      "http2/x/2 (case 2) skipped",
      "http2/x/3 (case 3) passed, but it is listed as failed (Envoy: r)",
      "http2/y/1 is listed as a known failure, but h2spec ran no such case",
    ]);
  });

  it("fails a run that did not get through the whole suite", () => {
    expect(judgeH2spec(suite({}).slice(1), {}).problems).toEqual([
      `h2spec reported ${H2SPEC_CASE_COUNT - 1} cases, not the suite's ${H2SPEC_CASE_COUNT}`,
    ]);
  });
});
