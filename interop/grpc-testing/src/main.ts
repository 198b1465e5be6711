#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
// Runs the interop TestService until SIGTERM or SIGINT:
//   node --import tsx src/main.ts [--port 10000] [--runtime grpc-js|connect] [--host 0.0.0.0]
import { parseArgs } from "node:util";
import { createLogger, exitOnSignals, portSchema } from "@polyrpc/server-kit";
import { isRuntime, RUNTIMES, startTestServer } from "./test-server.js";

const usage = `usage: main.ts [--port <0-65535>] [--runtime ${RUNTIMES.join("|")}] [--host <address>]`;

function fail(problem: string): never {
  console.error(`interop-test-server: ${problem}\n${usage}`);
  process.exit(64); // EX_USAGE
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      // grpc-go's interop client dials port 10000 unless told otherwise.
      port: { type: "string", default: "10000" },
      runtime: { type: "string", default: "grpc-js" },
      host: { type: "string", default: "0.0.0.0" },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
const port = portSchema.safeParse(values.port);
if (!port.success) fail(`--port must be a port number (got ${JSON.stringify(values.port)})`);
if (!isRuntime(values.runtime)) fail(`--runtime must be one of ${RUNTIMES.join(", ")} (got "${values.runtime}")`);

const log = createLogger({ name: `interop-test-server-${values.runtime}` });
const server = await startTestServer({ runtime: values.runtime, host: values.host, port: port.data, log });
exitOnSignals(() => server.shutdown(), log);
