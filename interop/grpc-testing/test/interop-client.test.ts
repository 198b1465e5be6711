import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createLogger } from "@polyrpc/server-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INTEROP_CASES, knownFailure, RUNTIMES, startTestServer, type TestServer } from "../src/index.js";

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** grpc-go's interop client, built by scripts/setup.sh at the version it pins. */
const interopClient = resolve(repoDir, ".tools/bin/interop-client");

interface ClientRun {
  code: number;
  output: string;
}

/** Runs one case of grpc-go's interop client against `port`. */
function runInteropClient(port: number, testCase: string): Promise<ClientRun> {
  if (!existsSync(interopClient)) {
    throw new Error(`grpc-go's interop client is missing at ${interopClient}: run \`bash scripts/setup.sh\``);
  }
  const args = ["--server_host=127.0.0.1", `--server_port=${port}`, `--test_case=${testCase}`];
  return new Promise((resolvePromise) => {
    execFile(interopClient, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolvePromise({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe.each(RUNTIMES)("grpc.testing.TestService on %s", (runtime) => {
  let server: TestServer;
  let serverLog = "";
  beforeAll(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        serverLog += chunk.toString();
        done();
      },
    });
    const log = createLogger({ name: `interop-${runtime}`, level: "info", destination });
    server = await startTestServer({ runtime, host: "127.0.0.1", port: 0, log });
  });
  afterAll(() => server?.shutdown());

  for (const testCase of INTEROP_CASES) {
    const known = knownFailure(runtime, testCase);
    if (known) {
      it(`still fails ${testCase}, a known failure (${known.reason})`, async () => {
        const run = await runInteropClient(server.port, testCase);
        expect(run.code, `${testCase} passes now: remove it from src/known-failures.ts and the README`).not.toBe(0);
      });
    } else {
      it(`passes grpc-go's ${testCase}`, async () => {
        const logFrom = serverLog.length;
        const run = await runInteropClient(server.port, testCase);
        expect(run.code, `interop client:\n${run.output}\nserver log:\n${serverLog.slice(logFrom)}`).toBe(0);
      });
    }
  }
});
