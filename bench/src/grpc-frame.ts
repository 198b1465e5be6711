import { writeFileSync } from "node:fs";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";

/** One uncompressed gRPC length-prefixed message: flag 0, a 4-byte big-endian length, the bytes. */
export function grpcFrame<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Buffer {
  const body = toBinary(schema, create(schema, init));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(frame, 5);
  return frame;
}

/** Writes a request body for h2load's `-d`. */
export function writeGrpcFrame<Desc extends DescMessage>(
  path: string,
  schema: Desc,
  init: MessageInitShape<Desc>,
): string {
  writeFileSync(path, grpcFrame(schema, init));
  return path;
}
