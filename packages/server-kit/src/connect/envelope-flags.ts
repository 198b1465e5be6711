import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

/** Content types whose request bodies are enveloped messages: gRPC, gRPC-Web and Connect streaming. */
const ENVELOPED = /^application\/(grpc|grpc-web|connect\+)/;

/**
 * Reads the 5-byte envelope headers (flags, then a big-endian length) of a request body as its
 * chunks go by, and rejects a flags byte other than 0 (uncompressed) or 1 (compressed): the
 * remaining bits are reserved, and on a request no protocol sets them (0x02 is Connect's
 * end-of-stream and 0x80 gRPC-Web's trailers, both only sent by servers). connect-node reads such
 * an envelope as an uncompressed message; grpc-go answers INTERNAL, and so does this.
 */
export class EnvelopeFlagsCheck {
  private header = Buffer.alloc(5);
  private headerBytes = 0;
  private bodyLeft = 0;

  /** Throws ConnectError INTERNAL at the first envelope with reserved flag bits. */
  check(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const skip = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= skip;
        i += skip;
        continue;
      }
      this.header[this.headerBytes++] = chunk[i++]!;
      if (this.headerBytes < 5) continue;
      this.headerBytes = 0;
      const flags = this.header[0]!;
      if ((flags & ~0x01) !== 0) {
        throw new ConnectError(
          `invalid message flags 0x${flags.toString(16).padStart(2, "0")}: reserved bits are set`,
          Code.Internal,
        );
      }
      this.bodyLeft = this.header.readUInt32BE(1);
    }
  }
}

/**
 * Makes the request's body, as connect-node reads it (`for await` over the request), go through
 * an EnvelopeFlagsCheck; other content types are left alone.
 */
export function checkEnvelopeFlags(req: IncomingMessage | Http2ServerRequest): void {
  if (!ENVELOPED.test(req.headers["content-type"] ?? "")) return;
  const chunks = req[Symbol.asyncIterator].bind(req);
  const flags = new EnvelopeFlagsCheck();
  req[Symbol.asyncIterator] = async function* checkedChunks() {
    for await (const chunk of { [Symbol.asyncIterator]: chunks }) {
      flags.check(chunk as Uint8Array);
      yield chunk;
    }
  } as (typeof req)[typeof Symbol.asyncIterator];
}
