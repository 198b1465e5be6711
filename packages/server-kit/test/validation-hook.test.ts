import { status as Status } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GrpcClient } from "@polyrpc/grpc-client";
import { validationHook } from "../src/validation/validation-hook.js";
import { RUNTIMES, startUserServiceOn } from "./user-service-on.js";

let handlerRuns = 0;
const impl = {
  async createUser(req: { username: string }) {
    handlerRuns++;
    return { username: req.username };
  },
  async createUsers(reqs: AsyncIterable<unknown>) {
    handlerRuns++;
    let count = 0;
    for await (const _ of reqs) count++;
    return { count };
  },
};

const valid = { username: "ada", email: "ada@example.com", password: "password" };

describe.each(RUNTIMES)("protovalidate rules on %s (B5)", (runtime) => {
  let client: GrpcClient<typeof UserService>;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    const server = await startUserServiceOn(runtime, impl, { hooks: [validationHook()] });
    client = server.client;
    stop = () => server.stop();
  });
  afterAll(() => stop());

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => "OK",
      (e: { code: number; details: string }) => `${Status[e.code]} ${e.details}`,
    );

  it.each([
    [{ email: "not-an-email" }, "INVALID_ARGUMENT email: must be a valid email address"],
    [{ username: "ab" }, "INVALID_ARGUMENT username: must be at least 3 characters"],
    [{ password: "short" }, "INVALID_ARGUMENT password: must be at least 8 characters"],
    [{}, "OK"],
  ])("answers CreateUser %o with %s, refusing before the handler", async (change, expected) => {
    const before = handlerRuns;
    expect(await failure(client.methods.createUser({ ...valid, ...change }))).toBe(expected);
    expect(handlerRuns - before).toBe(expected === "OK" ? 1 : 0);
  });

  it("names the entry of a client stream that breaks a rule", async () => {
    const bad = { ...valid, username: "no spaces allowed" };
    expect(await failure(client.methods.createUsers([valid, bad]))).toBe(
      "INVALID_ARGUMENT requests[1].username: does not match regex pattern `^[A-Za-z0-9_.-]+$`",
    );
  });
});
