import type { Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { CallContext } from "../src/call-context.js";
import { RUNTIMES, startUserServiceOn, type UserServiceOn } from "./user-service-on.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await sleep(10);
  }
}

/** What a streaming handler saw: how many messages were pulled from it, and whether it was closed. */
interface Pulls {
  pulled: number;
  closed: boolean;
}

/**
 * ListUsers streaming `pageSize` users; user i has a username of (i % 7) * 300 bytes, so that
 * writes cross HTTP/2 frames and batches. A trailer says how many were sent.
 */
function streamingImpl(pulls: Pulls) {
  return {
    async *listUsers(req: { pageSize: number }, ctx: CallContext) {
      try {
        for (let i = 0; i < req.pageSize; i++) {
          pulls.pulled++;
          yield { id: String(i), username: "u".repeat((i % 7) * 300), createdAt: BigInt(i), roles: ["r"] };
          // Now and then the handler waits for something slow, as a store would.
          if (i % 1000 === 999) await sleep(1);
        }
        ctx.responseTrailer.set("x-sent", String(req.pageSize));
      } finally {
        pulls.closed = true;
      }
    },
  };
}

describe.each(RUNTIMES)("server-streaming writes on %s", (runtime) => {
  let server: UserServiceOn | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it("sends every message in order, batched or not, and then the trailer", async () => {
    const pulls: Pulls = { pulled: 0, closed: false };
    server = await startUserServiceOn(runtime, streamingImpl(pulls));
    let trailer: Metadata | undefined;
    const ids: string[] = [];
    let sizesOk = true;
    for await (const user of server.client.methods.listUsers({ pageSize: 5000 }, { onTrailer: (m) => (trailer = m) })) {
      const i = ids.length;
      ids.push(user.id);
      sizesOk &&= user.username.length === (i % 7) * 300 && user.createdAt === BigInt(i);
    }
    expect(ids).toEqual(Array.from({ length: 5000 }, (_, i) => String(i)));
    expect(sizesOk).toBe(true);
    expect(trailer?.get("x-sent")).toEqual(["5000"]);
    expect(pulls.closed).toBe(true);
  });

  it("pulls only a bounded number of messages ahead of a client that stopped reading", async () => {
    const pulls: Pulls = { pulled: 0, closed: false };
    server = await startUserServiceOn(runtime, streamingImpl(pulls));
    // About 9 MB in all: far more than the HTTP/2 windows and socket buffers hold.
    const total = 10_000;
    const stream = server.client.methods.listUsers({ pageSize: total })[Symbol.asyncIterator]();
    await stream.next(); // one message read, then the client stops reading
    await sleep(500);
    const pulledWhilePaused = pulls.pulled;
    await sleep(300);
    // Stopped, and far behind the end: no more than the HTTP/2 windows, socket buffers and the
    // call's write buffer (16 messages, or one batch in flight) hold.
    expect(pulls.pulled).toBe(pulledWhilePaused);
    expect(pulledWhilePaused).toBeLessThan(1000);
    let received = 1;
    while (!(await stream.next()).done) received++;
    expect(received).toBe(total);
  });

  it("stops pulling and closes the handler's iterator when the client cancels mid-stream", async () => {
    const pulls: Pulls = { pulled: 0, closed: false };
    server = await startUserServiceOn(runtime, streamingImpl(pulls));
    let read = 0;
    for await (const _ of server.client.methods.listUsers({ pageSize: 1_000_000 })) {
      if (++read === 100) break; // leaving the loop cancels the call
    }
    await eventually(() => pulls.closed);
    const pulledAtCancel = pulls.pulled;
    await sleep(200);
    expect(pulls.pulled).toBe(pulledAtCancel);
    expect(pulledAtCancel).toBeLessThan(1000);
  });
});
