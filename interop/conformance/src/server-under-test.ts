#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
// The server under test that connectconformance (`--mode server`) starts, once per server
// configuration it runs: reads a size-delimited ServerCompatRequest from stdin, starts the
// conformance service on the kit's server for the runtime, writes a size-delimited
// ServerCompatResponse (host, port, certificate) to stdout and serves until SIGTERM.
//
//   node --conditions=polyrpc-source --import tsx src/server-under-test.ts --runtime grpc-js|connect
//
// stdout carries the response only; the kit's logs go to stderr (LOG_LEVEL, default warn).
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createLogger, exitOnSignals, serverEnvSchema } from "@polyrpc/server-kit";
import { isRuntime, RUNTIMES, startConformanceServer } from "./conformance-server.js";
import {
  ServerCompatRequestSchema,
  ServerCompatResponseSchema,
} from "./gen/connectrpc/conformance/v1/server_compat_pb.js";
import { readSizeDelimited, sizeDelimited } from "./size-delimited.js";

const usage = `usage: server-under-test.ts --runtime ${RUNTIMES.join("|")}`;

function fail(problem: string, code: number): never {
  console.error(`conformance server: ${problem}`);
  process.exit(code);
}

let runtime: string | undefined;
try {
  ({ runtime } = parseArgs({ options: { runtime: { type: "string" } } }).values);
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`, 64); // EX_USAGE
}
if (runtime === undefined || !isRuntime(runtime)) fail(`--runtime must be one of ${RUNTIMES.join(", ")}\n${usage}`, 64);

try {
  const level = serverEnvSchema.shape.LOG_LEVEL.parse(process.env.LOG_LEVEL ?? "warn");
  const log = createLogger({ name: `conformance-${runtime}`, level, destination: process.stderr });
  const request = fromBinary(ServerCompatRequestSchema, await readSizeDelimited(process.stdin));
  const server = await startConformanceServer(runtime, request, log);
  const response = create(ServerCompatResponseSchema, {
    host: "127.0.0.1",
    port: server.port,
    ...(server.pemCert && { pemCert: server.pemCert }),
  });
  process.stdout.write(sizeDelimited(toBinary(ServerCompatResponseSchema, response)));
  exitOnSignals(() => server.shutdown(), log);
} catch (err) {
  fail(`cannot start: ${(err as Error).stack ?? String(err)}`, 1);
}
