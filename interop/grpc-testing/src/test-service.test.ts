import { create } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import { InvalidArgumentError, RpcStatusError } from "@polyrpc/server-kit";
import { describe, expect, it } from "vitest";
import { EmptySchema } from "./gen/grpc/testing/empty_pb.js";
import {
  SimpleRequestSchema,
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
  type StreamingOutputCallRequest,
} from "./gen/grpc/testing/messages_pb.js";
import { createTestService, type TestCall } from "./test-service.js";

const call: TestCall = { signal: new AbortController().signal };

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

const sizes = (responses: Array<{ payload?: { body?: Uint8Array } }>) => responses.map((r) => r.payload?.body?.length);

const outputRequest = (sizes: number[], intervalUs = 0): StreamingOutputCallRequest =>
  create(StreamingOutputCallRequestSchema, { responseParameters: sizes.map((size) => ({ size, intervalUs })) });

describe("createTestService", () => {
  const service = createTestService();

  it("answers UnaryCall with a zero-filled payload of the requested size", async () => {
    const res = await service.unaryCall(create(SimpleRequestSchema, { responseSize: 314_159 }), call);
    const body = res.payload?.body ?? new Uint8Array(1);
    expect(body.length).toBe(314_159);
    expect(body.every((b) => b === 0)).toBe(true);
  });

  it("ends UnaryCall with the requested status, message byte for byte", async () => {
    const message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    const req = create(SimpleRequestSchema, { responseStatus: { code: 2, message } });
    await expect(service.unaryCall(req, call)).rejects.toEqual(new RpcStatusError(Status.UNKNOWN, message));
  });

  it("rejects a negative response size as an invalid argument", async () => {
    const req = create(SimpleRequestSchema, { responseSize: -1 });
    await expect(service.unaryCall(req, call)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("streams one response per response parameter, in order, after each interval", async () => {
    const started = performance.now();
    const responses = await collect(service.streamingOutputCall(outputRequest([3, 1, 2], 20_000), call));
    expect(sizes(responses)).toEqual([3, 1, 2]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it("stops waiting for an interval when the call is aborted, with the abort's reason", async () => {
    const controller = new AbortController();
    const responses = service.streamingOutputCall(outputRequest([1], 60_000_000), { signal: controller.signal });
    const next = responses.next();
    controller.abort(new Error("cancelled"));
    await expect(next).rejects.toThrow("cancelled");
  });

  it("sums the payload sizes a client streams to StreamingInputCall", async () => {
    const requests = [27_182, 8, 1_828, 45_904].map((n) =>
      create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(n) } }),
    );
    expect(await service.streamingInputCall(from(requests), call)).toEqual({ aggregatedPayloadSize: 74_922 });
  });

  it("answers each FullDuplexCall request before reading the next, and ends with a requested status", async () => {
    const requests = from([
      outputRequest([1, 2]),
      create(StreamingOutputCallRequestSchema, { responseStatus: { code: Status.NOT_FOUND, message: "gone" } }),
      outputRequest([3]),
    ]);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const r of service.fullDuplexCall(requests, call)) seen.push(r.payload?.body?.length ?? -1);
      })(),
    ).rejects.toEqual(new RpcStatusError(Status.NOT_FOUND, "gone"));
    expect(seen).toEqual([1, 2]);
  });

  it("answers HalfDuplexCall only after the client has finished sending", async () => {
    let clientDone = false;
    async function* requests() {
      yield outputRequest([1]);
      yield outputRequest([2, 3]);
      clientDone = true;
    }
    const responses = service.halfDuplexCall(requests(), call);
    const first = await responses.next();
    expect(clientDone).toBe(true);
    expect(sizes([first.value!, ...(await collect(responses))])).toEqual([1, 2, 3]);
  });

  it("leaves UnimplementedCall unimplemented", async () => {
    await expect(service.unimplementedCall(create(EmptySchema), call)).rejects.toMatchObject({
      code: Status.UNIMPLEMENTED,
    });
  });

  it("runs onCall first in every method", async () => {
    const seen: TestCall[] = [];
    const hooked = createTestService({ onCall: (c) => seen.push(c) });
    await hooked.emptyCall(create(EmptySchema), call);
    await hooked.cacheableUnaryCall(create(SimpleRequestSchema), call);
    await collect(hooked.fullDuplexCall(from([]), call));
    await hooked.streamingInputCall(from([]), call);
    expect(seen).toEqual([call, call, call, call]);
  });
});
