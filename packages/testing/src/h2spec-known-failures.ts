import type { KnownH2specFailures } from "./h2spec.js";

/**
 * Where node:http2 (Node 24, nghttp2 1.69) departs from what h2spec v2.2.1 checks, on any Node
 * HTTP/2 server: both kit servers (grpc-js and connect-node) inherit these, on h2c and TLS alike.
 * A plain `http2.createServer` fails the same cases.
 */
export const nodeHttp2KnownFailures: KnownH2specFailures = {
  "http2/5.1/8": {
    whose: "Node's HTTP/2",
    reason:
      "DATA after the client's RST_STREAM is ignored, not answered with STREAM_CLOSED: Node runs nghttp2 " +
      "with no_closed_streams (node_http2.cc), so a closed stream is forgotten and its frames are dropped",
  },
  "http2/5.1/9": {
    whose: "Node's HTTP/2",
    reason: "HEADERS after the client's RST_STREAM is ignored, not answered with STREAM_CLOSED (no_closed_streams)",
  },
  "http2/5.1/11": {
    whose: "Node's HTTP/2",
    reason: "DATA on a stream both sides ended is ignored, not answered with STREAM_CLOSED (no_closed_streams)",
  },
  "http2/5.1/12": {
    whose: "Node's HTTP/2",
    reason: "HEADERS on a stream both sides ended is ignored, not a STREAM_CLOSED connection error (no_closed_streams)",
  },
  "http2/5.1.1/2": {
    whose: "Node's HTTP/2",
    reason:
      "nghttp2 ignores HEADERS with a stream id below the last one instead of a PROTOCOL_ERROR connection " +
      "error; it cannot tell such an id from a closed stream's (nghttp2/nghttp2#1300, #2278)",
  },
  "http2/5.3.1/2": {
    whose: "Node's HTTP/2",
    reason:
      "nghttp2 1.65 removed RFC 7540 priorities (RFC 9113 deprecates them) and ignores every PRIORITY frame, " +
      "a stream depending on itself included (nghttp2/nghttp2#2365)",
  },
  "http2/6.3/1": {
    whose: "Node's HTTP/2",
    reason: "a PRIORITY frame on stream 0 is ignored, not a PROTOCOL_ERROR: nghttp2 1.65+ ignores PRIORITY (#2365)",
  },
  "http2/6.7/2": {
    whose: "Node's HTTP/2",
    reason:
      "Node treats a PING ACK it did not ask for as a connection error and destroys the session (node_http2.cc " +
      "HandlePingFrame, on purpose: no legitimate peer sends one); RFC 9113 says to ignore it",
  },
  "http2/6.9.1/2": {
    whose: "Node's HTTP/2",
    reason:
      "on a connection window past 2^31-1 Node hands nghttp2's flow-control error to JavaScript, which " +
      "destroys the session with GOAWAY INTERNAL_ERROR instead of FLOW_CONTROL_ERROR",
  },
  "http2/6.9.1/3": {
    whose: "Node's HTTP/2",
    reason:
      "on a stream window past 2^31-1 Node destroys the whole session (as for 6.9.1/2) instead of resetting " +
      "the stream with RST_STREAM FLOW_CONTROL_ERROR",
  },
};

const closedBeforeNextFrame =
  "when the server's answer closes the stream before this frame arrives, Node has forgotten the stream " +
  "(no_closed_streams) and ignores the frame; when the frame comes first, the case passes";

/**
 * The cases whose outcome on node:http2 depends on timing, for a server that answers a request
 * before reading all of it, as both kit servers do for h2spec's requests (no gRPC or Connect content
 * type: an immediate 415 or 404, or a fallback's page): each sends a request and then, at once, a
 * malformed frame on the same stream. Whether the server's answer (and the stream's end) or the
 * client's frame comes first is up to the scheduler; when the answer wins, Node ignores the frame.
 */
export const nodeHttp2AnswerRaces: KnownH2specFailures = {
  "http2/5.1/5": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `DATA on a half-closed (remote) stream: ${closedBeforeNextFrame}`,
  },
  "http2/5.1/6": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `HEADERS on a half-closed (remote) stream: ${closedBeforeNextFrame}`,
  },
  "http2/5.1.2/1": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason:
      "h2spec opens one stream more than SETTINGS_MAX_CONCURRENT_STREAMS (100), each request complete in its " +
      "HEADERS; a server that answers (and closes) the first streams before the last HEADERS arrive never has " +
      "101 open and rightly refuses none; only those arriving in one read are counted together",
  },
  "http2/6.1/2": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `DATA after the request's END_STREAM: ${closedBeforeNextFrame}`,
  },
  "http2/6.1/3": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `DATA with an invalid pad length: ${closedBeforeNextFrame}`,
  },
  "http2/6.9/2": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `WINDOW_UPDATE of 0 on a stream: ${closedBeforeNextFrame}`,
  },
  "http2/8.1/1": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `trailers without END_STREAM: ${closedBeforeNextFrame}`,
  },
  "http2/8.1.2.1/3": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `a pseudo-header in trailers: ${closedBeforeNextFrame}`,
  },
  "http2/8.1.2.6/1": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `a DATA frame longer than the request's content-length: ${closedBeforeNextFrame}`,
  },
  "http2/8.1.2.6/2": {
    whose: "Node's HTTP/2",
    expected: "failed or passed",
    reason: `DATA frames adding up to more than the content-length: ${closedBeforeNextFrame}`,
  },
};

/**
 * The kit's grpc-js server answers h2spec's requests, which carry no
 * `application/grpc` content type, with a bare 415 and no body, as a gRPC server should. The cases
 * that need a response body to test with then fail or are skipped, on its own port and through a proxy.
 */
export const grpcServerBodilessAnswers: KnownH2specFailures = {
  "generic/2/2": {
    whose: "ours",
    reason:
      "waits for a DATA frame of the response; the grpc-js server answers h2spec's non-gRPC request with a bodiless 415",
  },
  "generic/2/3": {
    whose: "ours",
    reason:
      "waits for a DATA frame of the response; the grpc-js server answers h2spec's non-gRPC request with a bodiless 415",
  },
  "http2/6.5.3/1": {
    whose: "ours",
    expected: "skipped",
    reason: "needs a response body; the grpc-js server's 415 has none",
  },
  "http2/6.9.1/1": {
    whose: "ours",
    expected: "skipped",
    reason: "needs a response body; the grpc-js server's 415 has none",
  },
  "http2/6.9.2/1": {
    whose: "ours",
    expected: "skipped",
    reason: "needs a response body; the grpc-js server's 415 has none",
  },
  "http2/6.9.2/2": {
    whose: "ours",
    expected: "skipped",
    reason: "needs a response body; the grpc-js server's 415 has none",
  },
};

/**
 * The connect server's plaintext port speaks h2c and HTTP/1.1 (browsers without TLS), told apart
 * by the first bytes: anything but the HTTP/2 preface is HTTP/1.1.
 */
export const h2cBesideHttp1KnownFailures: KnownH2specFailures = {
  "http2/3.5/2": {
    whose: "ours",
    reason:
      "an invalid HTTP/2 preface goes to the HTTP/1.1 parser beside h2c on the port, which answers " +
      "`400 Bad Request` before it closes; h2spec wants the close alone",
  },
};
