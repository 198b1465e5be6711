import type { IncomingMessage, ServerResponse } from "node:http";
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";

/**
 * Ends what is left of a request its handler stopped reading. connect-node stops reading a
 * request when it answers early (a message past the receive limit, say, or a bidi stream whose
 * handler is done before the client), and the rest of the request is never read, so:
 * - on HTTP/2 a client still sending would wait forever on flow control for a window that never
 *   opens. After the response's trailers the stream is reset with NO_ERROR, which tells the
 *   client to stop sending without failing the call it already has the answer to (RFC 9113
 *   §8.1; grpc-go's servers do the same);
 * - on HTTP/1.1 connect-node destroys the request, and Node with it the connection, as soon as
 *   the response is out: a client that reuses the connection for its next call would find it
 *   reset. A response that starts after its request was destroyed unread says so instead
 *   (`Connection: close`, RFC 9112 §9.6), and the client opens a new connection. (A request
 *   nobody destroyed is left to Node, which reads the rest and keeps the connection.)
 */
export function endUnreadRequests(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
): void {
  const stream = (req as Partial<Http2ServerRequest>).stream;
  if (stream) {
    // Node's compatibility layer sends the trailers on `wantTrailers` (its listener comes first);
    // the reset goes out on the next turn, not from inside nghttp2's callback.
    stream.once("wantTrailers", () =>
      setImmediate(() => {
        if (!req.complete && !stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
      }),
    );
    return;
  }
  const response = res as ServerResponse;
  const writeHead = response.writeHead;
  response.writeHead = function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
    if (!req.complete && req.destroyed) this.shouldKeepAlive = false;
    return writeHead.apply(this, args);
  } as typeof writeHead;
}
