import { connect as http2Connect } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import { ChatMessageSchema, reflectionV1 } from "@polyrpc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUNTIMES, startUserServiceOn, type UserServiceOn } from "./user-service-on.js";

/**
 * Found by the B4 fuzz (tests/e2e/test/fuzz.test.ts): a bidi call whose last frame cannot be
 * decoded, sent with frames the handler answers. grpc-js ends the call with INTERNAL as soon as it
 * fails to decode the frame, while the handler may still be answering the frames before it; a
 * message written then used to go out after the end of the HTTP/2 stream, the trailers never did,
 * and the client waited for a status forever (grpc.reflection, which answers each request at once,
 * did it every time). patches/@grpc__grpc-js@1.14.7.patch drops such messages.
 */

/** Not protobuf: a group that never ends. */
const UNDECODABLE = Buffer.from([0x7b, 0x7b]);

function envelope(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** Sends every frame in one DATA frame and ends the stream; resolves with the grpc-status. */
function statusOf(address: string, path: string, frames: Uint8Array[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${address}`);
    session.on("error", () => {});
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`${path}: no grpc-status within 5 s`));
    }, 5000);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "2S",
    });
    const read = (headers: Record<string, unknown>) => {
      if (headers["grpc-status"] === undefined) return;
      clearTimeout(timer);
      session.close();
      resolve(Number(headers["grpc-status"]));
    };
    stream.on("response", read);
    stream.on("trailers", read);
    stream.on("data", () => {});
    stream.on("error", () => {});
    stream.end(Buffer.concat(frames.map(envelope)));
  });
}

describe.each(RUNTIMES)("an undecodable frame after answered ones on %s", (runtime) => {
  let server: UserServiceOn;
  beforeAll(async () => {
    server = await startUserServiceOn(runtime, {
      async *chat(messages: AsyncIterable<{ text: string }>) {
        for await (const message of messages) yield { text: message.text };
      },
    });
  });
  afterAll(() => server.stop());

  it("ends a reflection stream with INTERNAL", async () => {
    const list = toBinary(
      reflectionV1.ServerReflectionRequestSchema,
      create(reflectionV1.ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } }),
    );
    for (let i = 0; i < 3; i++) {
      const code = await statusOf(server.address, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", [
        list,
        list,
        UNDECODABLE,
      ]);
      expect(Status[code]).toBe("INTERNAL");
    }
  });

  it("ends a kit-adapted bidi stream with INTERNAL", async () => {
    const message = toBinary(ChatMessageSchema, create(ChatMessageSchema, { text: "hi" }));
    for (let i = 0; i < 3; i++) {
      const code = await statusOf(server.address, "/user.UserService/Chat", [message, message, message, UNDECODABLE]);
      expect(Status[code]).toBe("INTERNAL");
    }
  });
});
