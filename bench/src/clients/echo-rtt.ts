/**
 * Bidi Chat round trips with one message in flight: send, wait for the echo, send the next.
 * Run as its own process (pinned like the other load generators); prints one JSON line.
 *
 *   node --import tsx echo-rtt.ts --target 127.0.0.1:50051 --duration 5 [--warmup 1] [--ca ca.crt]
 */
import { parseArgs } from "node:util";
import { userClient } from "../clients.js";
import { Pushable } from "@polyrpc/testing";
import { percentile } from "../stats.js";
import type { ChatMessage } from "@polyrpc/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ChatMessageSchema } from "@polyrpc/proto";

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    ca: { type: "string" },
  },
});
if (!values.target) throw new Error("--target is required");

const outbox = new Pushable<MessageInitShape<typeof ChatMessageSchema>>();
const replies: AsyncIterator<ChatMessage> = userClient(values.target, values.ca).chat(outbox)[Symbol.asyncIterator]();

async function roundTrip(i: number): Promise<number> {
  const started = process.hrtime.bigint();
  outbox.push({ userId: "bench", text: `m${i}` });
  const reply = await replies.next();
  if (reply.done || reply.value.text !== `Echo: m${i}`)
    throw new Error(`unexpected echo: ${JSON.stringify(reply.value)}`);
  return Number(process.hrtime.bigint() - started) / 1000;
}

let i = 0;
const warmEnd = performance.now() + Number(values.warmup) * 1000;
while (performance.now() < warmEnd) await roundTrip(i++);
const latenciesUs: number[] = [];
const started = performance.now();
const end = started + Number(values.duration) * 1000;
while (performance.now() < end) latenciesUs.push(await roundTrip(i++));
const seconds = (performance.now() - started) / 1000;
outbox.end();
await replies.next();
latenciesUs.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    count: latenciesUs.length,
    perS: latenciesUs.length / seconds,
    p50Us: percentile(latenciesUs, 50),
    p90Us: percentile(latenciesUs, 90),
    p99Us: percentile(latenciesUs, 99),
    meanUs: latenciesUs.reduce((a, b) => a + b, 0) / latenciesUs.length,
  }),
);
