import type { Readable } from "node:stream";

/**
 * The framing connectconformance uses on a server under test's stdin and stdout: a 4-byte
 * big-endian length, then that many bytes of a binary protobuf message.
 */
export function sizeDelimited(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(message.byteLength);
  return Buffer.concat([prefix, message]);
}

/**
 * Reads one size-delimited message from `input`, leaving the stream open (the runner keeps its
 * end open for the life of the server). Rejects when the stream ends first.
 */
export function readSizeDelimited(input: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = (result: Buffer | Error) => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      input.pause();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const size = buffered.readUInt32BE(0);
      if (buffered.length >= 4 + size) done(buffered.subarray(4, 4 + size));
    };
    const onEnd = () => done(new Error(`input ended after ${buffered.length} bytes, before a whole message`));
    const onError = (err: Error) => done(err);
    input.on("data", onData);
    input.on("end", onEnd);
    input.on("error", onError);
  });
}
