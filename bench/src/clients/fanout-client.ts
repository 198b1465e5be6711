/**
 * Chat fan-out: `--subscribers` Subscribe streams in one room (spread over the `--chat` replicas),
 * one sender calling SendMessage `--rate` times a second on the first replica. Each message
 * carries its send time (the monotonic clock, shared by every process on the machine); delivery
 * latency is receive time minus send time. Prints one JSON line.
 */
import { parseArgs } from "node:util";
import { chatClient } from "../clients.js";
import { percentile } from "../stats.js";

const { values } = parseArgs({
  options: {
    chat: { type: "string" },
    user: { type: "string" },
    room: { type: "string", default: "bench" },
    subscribers: { type: "string", default: "1" },
    rate: { type: "string", default: "100" },
    duration: { type: "string", default: "5" },
  },
});
if (!values.chat || !values.user) throw new Error("--chat and --user are required");
const replicas = values.chat.split(",").map((target) => chatClient(target));
const room = values.room;
const user = values.user;
const subscribers = Number(values.subscribers);
const rate = Number(values.rate);
const durationMs = Number(values.duration) * 1000;
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms on CLOCK_MONOTONIC

const abort = new AbortController();
const latenciesMs: number[] = [];
let measuring = false;
const readySeen = new Array<boolean>(subscribers).fill(false);

async function subscribe(index: number): Promise<void> {
  const client = replicas[index % replicas.length]!;
  try {
    for await (const response of client.subscribe({ room }, { signal: abort.signal })) {
      if (response.event.case !== "message") continue;
      const text = response.event.value.text;
      if (text === "ready") readySeen[index] = true;
      else if (measuring && text.startsWith("t:")) latenciesMs.push(now() - Number(text.slice(2)));
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
}

const streams = Array.from({ length: subscribers }, (_, i) => subscribe(i));
const sender = replicas[0]!;
// Every subscriber is live once it has seen a message sent after it subscribed.
const readyBy = performance.now() + 30_000;
while (!readySeen.every(Boolean)) {
  if (performance.now() > readyBy) throw new Error("subscribers did not become ready in 30 s");
  await sender.sendMessage({ room, userId: user, text: "ready" });
  await new Promise((r) => setTimeout(r, 100));
}

let sent = 0;
let failed = 0;
let inFlight = 0;
const maxInFlight = 2000;
measuring = true;
const started = now();
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const elapsed = now() - started;
    const due = Math.min(Math.floor((elapsed * rate) / 1000), Math.floor((durationMs * rate) / 1000));
    while (sent < due && inFlight < maxInFlight) {
      sent++;
      inFlight++;
      sender
        .sendMessage({ room, userId: user, text: `t:${now()}` })
        .catch(() => failed++)
        .finally(() => inFlight--);
    }
    if (elapsed >= durationMs) {
      clearInterval(timer);
      resolve();
    }
  }, 1);
});
const sendSeconds = (now() - started) / 1000;
// Let deliveries in flight arrive.
const drainBy = now() + 2000;
while (latenciesMs.length < sent * subscribers && now() < drainBy) await new Promise((r) => setTimeout(r, 20));
measuring = false;
abort.abort();
void Promise.allSettled(streams);
latenciesMs.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    sent,
    failed,
    delivered: latenciesMs.length,
    expected: sent * subscribers,
    sentPerS: sent / sendSeconds,
    deliveredPerS: latenciesMs.length / sendSeconds,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
  }),
);
// Do not wait for 100 streams to wind down on a saturated machine: the numbers are out.
process.exit(0);
