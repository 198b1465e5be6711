import { Metadata, status as Status } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCallValueKey, type CallHook } from "../src/call-hooks.js";
import type { GrpcClient } from "@polyrpc/grpc-client";
import { NotFoundError, PermissionDeniedError, UnauthenticatedError } from "../src/errors.js";
import { RUNTIMES, startUserServiceOn } from "./user-service-on.js";

const USER = createCallValueKey("user", "anonymous");

interface Seen {
  path: string;
  requests: number;
  responses: number;
  end?: [number, string];
}

/** A hook as auth, validation and metrics will use it: refuse, attach a value, count, end. */
function recordingHook(seen: Seen[]): CallHook {
  return {
    start(call) {
      if (call.header("x-deny")) throw new PermissionDeniedError("denied by the hook");
      call.set(USER, call.header("x-user") ?? "anonymous");
      const abortAfter = call.header("x-abort-after-ms");
      if (abortAfter) setTimeout(() => call.abort(new UnauthenticatedError("the token expired")), Number(abortAfter));
      const entry: Seen = { path: call.path, requests: 0, responses: 0 };
      seen.push(entry);
      return {
        request: () => void entry.requests++,
        response: () => void entry.responses++,
        end: (code, message) => void (entry.end = [code, message]),
      };
    },
  };
}

let handlerRuns = 0;
/** Written once in the kit's ServiceHandlers shape: grpc-js runs it directly, connect-node as is. */
const impl = {
  async getUser(req: { id: string }, ctx: { values: { get<T>(key: typeof USER): T } }) {
    handlerRuns++;
    if (req.id === "missing") throw new NotFoundError(`user "${req.id}" not found`);
    return { id: req.id, username: ctx.values.get(USER) as string };
  },
  async *listUsers(req: { pageSize: number }) {
    for (let i = 0; i < (req.pageSize || 3); i++) {
      yield { id: String(i) };
      if (req.pageSize === 1000) await new Promise((r) => setTimeout(r, 20));
    }
  },
  async createUsers(reqs: AsyncIterable<unknown>) {
    let count = 0;
    for await (const _ of reqs) count++;
    return { count };
  },
};

describe.each(RUNTIMES)("call hooks on %s", (runtime) => {
  const seen: Seen[] = [];
  let client: GrpcClient<typeof UserService>;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    const server = await startUserServiceOn(runtime, impl, { hooks: [recordingHook(seen)] });
    client = server.client;
    stop = () => server.stop();
  });
  afterAll(() => stop());

  const meta = (entries: Record<string, string>) => {
    const m = new Metadata();
    for (const [k, v] of Object.entries(entries)) m.set(k, v);
    return m;
  };
  const last = () => seen[seen.length - 1]!;

  it("gives the handler the values a hook attached, and taps the request, the response and the end", async () => {
    const user = await client.methods.getUser({ id: "1" }, { metadata: meta({ "x-user": "ada" }) });
    expect(user.username).toBe("ada");
    expect(last()).toEqual({ path: "/user.UserService/GetUser", requests: 1, responses: 1, end: [Status.OK, ""] });
  });

  it("refuses a call with the hook's status before the handler runs", async () => {
    const before = handlerRuns;
    const err = await client.methods.getUser({ id: "1" }, { metadata: meta({ "x-deny": "1" }) }).catch((e) => e);
    expect(err).toMatchObject({ code: Status.PERMISSION_DENIED, details: "denied by the hook" });
    expect(handlerRuns).toBe(before);
  });

  it("reports a handler's error code at the end", async () => {
    await client.methods.getUser({ id: "missing" }).catch(() => undefined);
    expect(last().end).toEqual([Status.NOT_FOUND, 'user "missing" not found']);
  });

  it("taps every message of server and client streams", async () => {
    const listed = [];
    for await (const u of client.methods.listUsers({ pageSize: 3 })) listed.push(u);
    expect(listed).toHaveLength(3);
    expect(last()).toMatchObject({ requests: 1, responses: 3, end: [Status.OK, ""] });
    await client.methods.createUsers([{ username: "a" }, { username: "b" }]);
    expect(last()).toMatchObject({ requests: 2, responses: 1, end: [Status.OK, ""] });
  });

  it("lets a hook end a running stream with its status (an expiring token)", async () => {
    const received = [];
    const err = await (async () => {
      for await (const u of client.methods.listUsers(
        { pageSize: 1000 },
        { metadata: meta({ "x-abort-after-ms": "100" }) },
      ))
        received.push(u);
    })().catch((e) => e);
    expect(err).toMatchObject({ code: Status.UNAUTHENTICATED, details: "the token expired" });
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(1000);
  });
});
