/**
 * Chat fan-out, the receiving side: `--streams` Subscribe streams in one room, in one process,
 * spread over the `--chat` replicas (stream i of the run goes to replica (i + 1) mod replicas, so
 * with two replicas the first subscriber listens on the replica the sender does not send to).
 * Started by the coordinator in src/fanout.ts, several at a time, next to one sender process.
 *
 * The streams are read with the light gRPC client of h2-grpc.ts (Node's HTTP/2 client, gRPC's
 * length-prefixed framing), each response decoded with protobuf-es: about a tenth of the CPU per
 * message of reading them through connect-node's client, so that the chat, not the client, sets
 * the pace. A process's streams to one replica share one HTTP/2 connection (as behind a proxy). Every message stamped `t:<ms>` (the
 * sender's CLOCK_MONOTONIC, which every process on the machine shares) gives one delivery
 * latency: receive time minus send time, the receive time taken as its HTTP/2 DATA arrives.
 *
 * Handshake, through files in `--dir` (the coordinator's process helper gives no stdin):
 *   - `ready-<id>` is written once every stream has seen a `ready` message (the coordinator
 *     sends them until every subscriber process is ready);
 *   - a stream is done when it sees `end` (the sender's last message, stored after every `t:`
 *     one, so in a room's sequence order it comes after them all) or when it fails;
 *   - `drain` (written by the sender once its sending time is over, or by the coordinator when the
 *     sender failed) holds the CLOCK_MONOTONIC ms by which to stop waiting for the rest.
 * Then it writes the latencies (ms, float64) to `lat-<id>.bin` and prints one JSON line.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { ClientHttp2Session, IncomingHttpHeaders } from "node:http2";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { chatV1 } from "@polyrpc/proto";
import { grpcFrame } from "../grpc-frame.js";
import { monotonicMs, ownCpuCores } from "../proc-stats.js";
import { grpcFailure, h2Session, readMessages, startCall } from "./h2-grpc.js";

const { values } = parseArgs({
  options: {
    chat: { type: "string" },
    room: { type: "string" },
    streams: { type: "string", default: "1" },
    /** The run-wide index of this process's first stream (for the replica it goes to). */
    first: { type: "string", default: "0" },
    dir: { type: "string" },
    id: { type: "string", default: "0" },
    /** Seconds after which the process gives up whatever happens (a lost coordinator). */
    timeout: { type: "string", default: "300" },
  },
});
if (!values.chat || !values.room || !values.dir) throw new Error("--chat, --room and --dir are required");
const targets = values.chat.split(",");
const { room, dir, id } = values;
const streamCount = Number(values.streams);
const first = Number(values.first);

setTimeout(
  () => {
    console.error(`fan-out subscriber ${id}: gave up after ${values.timeout} s`);
    process.exit(2);
  },
  Number(values.timeout) * 1000,
).unref();

const sessions = new Map<string, ClientHttp2Session>();
function session(target: string): ClientHttp2Session {
  let s = sessions.get(target);
  if (!s) sessions.set(target, (s = h2Session(target)));
  return s;
}

let latencies = new Float64Array(1 << 16);
let delivered = 0;
let readyStreams = 0;
let doneStreams = 0;
const failures: string[] = [];
/** CPU and wall clock from the first measured delivery on: this process's share of the load. */
let measuredFrom: { at: number; cpu: NodeJS.CpuUsage } | undefined;

function record(latencyMs: number): void {
  if (delivered === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[delivered++] = latencyMs;
}

const request = grpcFrame(chatV1.SubscribeRequestSchema, { room });

function subscribe(index: number): Promise<void> {
  const target = targets[(index + 1) % targets.length]!;
  return new Promise((resolve) => {
    let ready = false;
    let done = false;
    const finish = (failure?: string) => {
      if (done) return;
      done = true;
      doneStreams++;
      if (failure) failures.push(failure);
      resolve();
    };
    const stream = startCall(session(target), "/chat.v1.ChatService/Subscribe", request);
    let receivedAt = 0;
    stream.on("data", () => (receivedAt = monotonicMs())); // before readMessages' listener: once per DATA
    readMessages(stream, (bytes) => {
      const response = fromBinary(chatV1.SubscribeResponseSchema, bytes);
      if (response.event.case !== "message") return;
      const text = response.event.value.text;
      if (text.startsWith("t:")) {
        measuredFrom ??= { at: receivedAt, cpu: process.cpuUsage() };
        record(receivedAt - Number(text.slice(2)));
      } else if (text === "ready" && !ready) {
        ready = true;
        if (++readyStreams === streamCount) writeFileSync(join(dir, `ready-${id}`), "");
      } else if (text === "end") {
        finish();
        stream.close();
      }
    });
    const status = (headers: IncomingHttpHeaders) => {
      const failure = grpcFailure(headers);
      if (failure) finish(failure);
    };
    stream.on("response", status); // a trailers-only answer
    stream.on("trailers", status);
    stream.on("error", (err) => finish(err.message));
    stream.on("close", () => finish("the stream closed before the sender's last message"));
  });
}

const streams = Array.from({ length: streamCount }, (_, i) => subscribe(first + i));
const allDone = Promise.all(streams);
// Every stream saw `end`, or the drain deadline (from the sender, once its sending time is over) passed.
await new Promise<void>((resolve) => {
  const poll = setInterval(() => {
    if (doneStreams === streamCount) return stop();
    const drain = join(dir, "drain");
    if (existsSync(drain) && monotonicMs() >= Number(readFileSync(drain, "utf8"))) stop();
  }, 20);
  void allDone.then(stop);
  function stop() {
    clearInterval(poll);
    resolve();
  }
});
const endedAt = monotonicMs();
const cpuCores =
  measuredFrom && endedAt > measuredFrom.at ? ownCpuCores(measuredFrom.cpu, endedAt - measuredFrom.at) : 0;
writeFileSync(join(dir, `lat-${id}.bin`), Buffer.from(latencies.buffer, 0, delivered * 8));
console.log(
  JSON.stringify({
    streams: streamCount,
    delivered,
    unfinished: streamCount - doneStreams,
    failures: failures.length,
    failure: failures[0],
    cpuCores,
  }),
);
process.exit(0);
