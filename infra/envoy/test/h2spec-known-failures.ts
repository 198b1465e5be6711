import { grpcServerBodilessAnswers, type KnownH2specFailures } from "@polyrpc/testing";

const ignoresFramesOnClosedStreams = "Envoy's HTTP/2 codec keeps no closed streams and drops the frame";

/**
 * Where the Envoy sidecar (1.38, the chart's listeners) departs from what h2spec v2.2.1 checks, on
 * every listener. Envoy holds each stream open while it forwards it, so none of these depends on
 * timing.
 */
export const envoyKnownFailures: KnownH2specFailures = {
  "generic/3.8/1": {
    whose: "Envoy",
    reason:
      "after the client's GOAWAY Envoy neither answers the PING that follows nor closes the connection: " +
      "the connection manager does nothing on a downstream GOAWAY and the codec sends no more frames",
  },
  "http2/7/1": {
    whose: "Envoy",
    reason: "a GOAWAY with an unknown error code: as generic/3.8/1, no PING ACK after it and no close",
  },
  "http2/5.1/8": {
    whose: "Envoy",
    reason: `DATA after the client's RST_STREAM is ignored, not answered with STREAM_CLOSED: ${ignoresFramesOnClosedStreams}`,
  },
  "http2/5.1/9": {
    whose: "Envoy",
    reason: `HEADERS after the client's RST_STREAM is ignored, not answered with STREAM_CLOSED: ${ignoresFramesOnClosedStreams}`,
  },
  "http2/5.1/11": {
    whose: "Envoy",
    reason: `DATA on a stream both sides ended is ignored, not answered with STREAM_CLOSED: ${ignoresFramesOnClosedStreams}`,
  },
  "http2/5.1/12": {
    whose: "Envoy",
    reason: `HEADERS on a stream both sides ended is ignored, not a STREAM_CLOSED connection error: ${ignoresFramesOnClosedStreams}`,
  },
  "http2/5.1.1/2": {
    whose: "Envoy",
    reason: "HEADERS with a stream id below the last one is ignored instead of a PROTOCOL_ERROR connection error",
  },
  "http2/5.3.1/2": {
    whose: "Envoy",
    reason: "PRIORITY frames are ignored (RFC 9113 deprecates RFC 7540 priorities), a self-dependent one included",
  },
  "http2/6.3/1": {
    whose: "Envoy",
    reason: "a PRIORITY frame on stream 0 is ignored, not a PROTOCOL_ERROR: Envoy ignores PRIORITY",
  },
  "http2/6.9.1/2": {
    whose: "Envoy",
    reason:
      "on a connection window past 2^31-1 Envoy closes the connection at once, without the GOAWAY " +
      "FLOW_CONTROL_ERROR h2spec waits for",
  },
  "http2/6.9.1/3": {
    whose: "Envoy",
    reason:
      "on a stream window past 2^31-1 Envoy closes the whole connection instead of resetting the stream " +
      "with RST_STREAM FLOW_CONTROL_ERROR",
  },
};

/**
 * The user service's inbound TLS listener: Envoy's own failures, and the cases that need a response
 * body, which the user service's bodiless 415 to h2spec's non-gRPC requests (passed on by Envoy)
 * does not give.
 */
export const userServiceInboundKnownFailures: KnownH2specFailures = {
  ...envoyKnownFailures,
  ...grpcServerBodilessAnswers,
};

/** The chat's inbound TLS listener: the chat answers `/` with its page, so only Envoy's own. */
export const chatInboundKnownFailures: KnownH2specFailures = envoyKnownFailures;

/**
 * The chat's plaintext outbound listener to the user service: as the user service's inbound, and
 * `codec_type: AUTO` on plaintext, where Envoy tells h2c from HTTP/1.1 by the first bytes.
 */
export const outboundKnownFailures: KnownH2specFailures = {
  ...userServiceInboundKnownFailures,
  "http2/3.5/2": {
    whose: "ours",
    reason:
      "an invalid HTTP/2 preface goes to Envoy's HTTP/1.1 codec (codec_type AUTO on the plaintext outbound " +
      "listener), which answers `400 Bad Request` before it closes; h2spec wants the close alone",
  },
};
