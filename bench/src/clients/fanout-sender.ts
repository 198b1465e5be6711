/**
 * Chat fan-out, the sending side: SendMessage `--rate` times a second for `--duration` seconds on
 * one chat replica, open loop (calls are not held back by slow answers, up to 2,000 in flight),
 * over one HTTP/2 connection with the light gRPC client of h2-grpc.ts (a full client costs about
 * as much CPU per call as the chat's handling of it).
 * Each message's text is `t:<ms>`, its send time on CLOCK_MONOTONIC, which every process on the
 * machine shares, so the subscriber processes measure delivery latency against it.
 *
 * When the sending time is over it writes `<dir>/drain`: the CLOCK_MONOTONIC ms, `--drain` ms
 * later, after which the subscribers stop waiting (what arrives later is not delivered in time).
 * Once every call is answered (before that deadline) it sends `end`, stored after every `t:`
 * message, so a subscriber that reads it has everything. Prints one JSON line, with its own CPU
 * and the chat's (`--server-pids`) during the sending time, and how long the chat's threads waited
 * for a core meanwhile (other processes, or its own helper threads, had its core).
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chatV1 } from "@polyrpc/proto";
import { grpcFrame } from "../grpc-frame.js";
import { cpuSeconds, monotonicMs, ownCpuCores, runnableWaitSeconds } from "../proc-stats.js";
import { h2Session, unaryCall } from "./h2-grpc.js";

const { values } = parseArgs({
  options: {
    chat: { type: "string" },
    user: { type: "string" },
    room: { type: "string" },
    dir: { type: "string" },
    drain: { type: "string", default: "2000" },
    /** The chat processes (comma-separated pids), whose CPU during the sending time is reported. */
    "server-pids": { type: "string", default: "" },
    rate: { type: "string", default: "100" },
    duration: { type: "string", default: "5" },
  },
});
if (!values.chat || !values.user || !values.room || !values.dir) {
  throw new Error("--chat, --user, --room and --dir are required");
}
const session = h2Session(values.chat);
const { room, user } = values;
/** SendMessage of `text` as the sender, through the light client of h2-grpc.ts. */
const sendMessage = (text: string, timeoutMs?: number) =>
  unaryCall(
    session,
    "/chat.v1.ChatService/SendMessage",
    grpcFrame(chatV1.SendMessageRequestSchema, { room, userId: user, text }),
    timeoutMs,
  );

const rate = Number(values.rate);
const durationMs = Number(values.duration) * 1000;

// Connect (and warm the call path) before the clock starts; subscribers ignore this text.
await sendMessage("sender connected");

let sent = 0;
let failed = 0;
let failure: string | undefined;
let inFlight = 0;
const maxInFlight = 2000;
const total = Math.floor((durationMs * rate) / 1000);
const serverPids = values["server-pids"].split(",").filter(Boolean).map(Number);
const serverCpu = () => serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
const serverWait = () => serverPids.reduce((sum, pid) => sum + runnableWaitSeconds(pid), 0);
const serverCpuBefore = serverCpu();
const serverWaitBefore = serverWait();
const cpuBefore = process.cpuUsage();
const started = monotonicMs();
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const elapsed = monotonicMs() - started;
    const due = Math.min(Math.floor((elapsed * rate) / 1000), total);
    while (sent < due && inFlight < maxInFlight) {
      sent++;
      inFlight++;
      sendMessage(`t:${monotonicMs()}`)
        .catch((err: unknown) => {
          failed++;
          failure ??= String((err as Error).message ?? err);
        })
        .finally(() => inFlight--);
    }
    if (elapsed >= durationMs) {
      clearInterval(timer);
      resolve();
    }
  }, 1);
});
const sendSeconds = (monotonicMs() - started) / 1000;
const cpuCores = ownCpuCores(cpuBefore, sendSeconds * 1000);
const serverCpuCores = (serverCpu() - serverCpuBefore) / sendSeconds;
const serverWaitCores = (serverWait() - serverWaitBefore) / sendSeconds;
const drainBy = monotonicMs() + Number(values.drain);
writeFileSync(join(values.dir, "drain.tmp"), String(drainBy));
renameSync(join(values.dir, "drain.tmp"), join(values.dir, "drain"));
// Every answer first, so that `end` is stored after every message that was. A call still
// unanswered at the deadline may be stored after `end`: then there is no `end`.
while (inFlight > 0 && monotonicMs() < drainBy) await new Promise((r) => setTimeout(r, 5));
const unanswered = inFlight;
let endSent = false;
if (unanswered === 0) {
  const endBy = Math.max(1, drainBy - monotonicMs());
  endSent = await sendMessage("end", endBy).then(
    () => true,
    () => false,
  );
}
console.log(
  JSON.stringify({
    sent,
    failed,
    failure,
    unanswered,
    endSent,
    sendSeconds,
    sentPerS: sent / sendSeconds,
    cpuCores,
    serverCpuCores,
    serverWaitCores,
  }),
);
process.exit(0);
