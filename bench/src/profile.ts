/**
 * `pnpm --filter @polyrpc/bench run profile`: the user service under GetUser load (ghz, 16 calls
 * in flight, server on core 0, ghz on core 1) with `node --cpu-prof`; prints the throughput and
 * the top self-time functions and packages, and writes them to bench/results/profile-<label>.md.
 *
 *   PROFILE_SECONDS (20), PROFILE_LABEL (a name for the output), PROFILE_METHOD (GetUser|CreateUser)
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summariseCpuProfile, topInclusive } from "./cpu-profile.js";
import { runGhz } from "./ghz.js";
import { benchDir, repoRoot, tool } from "./paths.js";
import { loggedPort } from "@polyrpc/testing";
import { startServer } from "./processes.js";
import { writeProtoset } from "./protoset.js";
import { pinServer } from "./runner.js";
import { polyrpcEnv } from "./targets.js";
import { userClient } from "./clients.js";
import { cpuSeconds } from "./proc-stats.js";

const seconds = Number(process.env.PROFILE_SECONDS ?? 20);
const label = process.env.PROFILE_LABEL ?? "user-service";
const method = process.env.PROFILE_METHOD ?? "GetUser";
const work = mkdtempSync(join(tmpdir(), "polyrpc-profile-"));
const dir = join(repoRoot, "apps/user-service");
const server = await startServer({
  name: "user service",
  command: process.execPath,
  args: [
    "--cpu-prof",
    "--cpu-prof-dir",
    work,
    "--conditions=polyrpc-source",
    "--import",
    "tsx",
    join(dir, "src/main.ts"),
  ],
  cwd: dir,
  env: { ...polyrpcEnv, DATABASE_PATH: join(work, "users.db") },
  logFile: join(work, "server.log"),
  portOf: loggedPort("gRPC server listening"),
});
const { id } = await userClient(server.target).createUser({
  username: "profiled",
  email: "profiled@example.com",
  password: "correct horse battery",
});
await pinServer([server.pid], "per-core");
const data = join(work, "data.json");
writeFileSync(
  data,
  method === "GetUser"
    ? JSON.stringify({ id })
    : JSON.stringify({
        username: "p{{.RequestNumber}}",
        email: "p{{.RequestNumber}}@example.com",
        password: "correct horse battery",
      }),
);
const base = {
  ghz: tool("ghz"),
  protoset: writeProtoset(join(work, "user.protoset")),
  target: server.target,
  call: `user.UserService.${method}`,
  dataFile: data,
  cpus: "1",
  goMaxProcs: 1,
};
await runGhz({ ...base, concurrency: 16, durationS: 3 }); // warm-up
const cpuBefore = cpuSeconds(server.pid);
const fromUs = Number(process.hrtime.bigint() / 1000n);
const result = await runGhz({ ...base, concurrency: 16, durationS: seconds });
const toUs = Number(process.hrtime.bigint() / 1000n);
const cpuPerCallUs = ((cpuSeconds(server.pid) - cpuBefore) * 1e6) / result.ok;
await server.stop();
const file = readdirSync(work).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error(`no .cpuprofile in ${work}`);
const summary = summariseCpuProfile(join(work, file), { fromUs, toUs });
// Functions of the server's own code path (not Node's or V8's), by time on the stack.
const ours = topInclusive(
  summary,
  (r) => /server-kit|user-service|grpc-js|pino|prom-client|protovalidate|opentelemetry/.test(r.where),
  20,
);
const lines = [
  `# CPU profile: ${label}`,
  "",
  `${method} from ghz, 16 in flight, ${seconds} s after 3 s of warm-up; server on core 0, ghz on core 1.`,
  `Throughput during the profile: ${Math.round(result.rps)} calls/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`,
  `Server CPU per call: ${Math.round(cpuPerCallUs)} µs (with the profiler on).`,
  `(the profiler itself costs some of it). Only samples taken during the measured load count: ${Math.round(summary.total)} ms.`,
  "",
  "## Self time by package",
  "",
  "| package | self ms | % |",
  "| --- | ---: | ---: |",
  ...summary.owners.slice(0, 15).map((r) => `| ${r.name} | ${Math.round(r.selfMs)} | ${r.percent.toFixed(1)} |`),
  "",
  "## Top self-time functions",
  "",
  "| function | where | self ms | % |",
  "| --- | --- | ---: | ---: |",
  ...summary.functions
    .slice(0, 30)
    .map((r) => `| \`${r.name}\` | ${r.where} | ${Math.round(r.selfMs)} | ${r.percent.toFixed(1)} |`),
  "",
  "## Time on the stack (inclusive) in the call path",
  "",
  "| function | where | total ms | % of window |",
  "| --- | --- | ---: | ---: |",
  ...ours.map(
    (r) =>
      `| \`${r.name}\` | ${r.where} | ${Math.round(r.totalMs)} | ${((100 * r.totalMs) / summary.total).toFixed(1)} |`,
  ),
  "",
];
mkdirSync(join(benchDir, "results"), { recursive: true });
writeFileSync(join(benchDir, "results", `profile-${label}.md`), lines.join("\n"));
console.log(lines.join("\n"));
if (process.env.PROFILE_KEEP) console.log(`profile kept: ${join(work, file)}`);
else rmSync(work, { recursive: true, force: true });
