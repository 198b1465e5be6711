import { Metadata } from "@grpc/grpc-js";

/** The request headers the official gRPC interop tests ask servers to send back. */
export const ECHO_INITIAL_KEY = "x-grpc-test-echo-initial";
export const ECHO_TRAILING_BIN_KEY = "x-grpc-test-echo-trailing-bin";

/**
 * What the gRPC interop tests' `custom_metadata` case expects of a server: the value of
 * `x-grpc-test-echo-initial` comes back in the response headers, the value of
 * `x-grpc-test-echo-trailing-bin` in the trailers. Returns the headers to send (undefined when
 * there is nothing to echo) and copies the trailer into `trailer`. Servers only do this when
 * ECHO_TEST_METADATA is on, for interop runs.
 */
export function echoTestMetadata(request: Metadata, trailer: Metadata): Metadata | undefined {
  for (const value of request.get(ECHO_TRAILING_BIN_KEY)) trailer.add(ECHO_TRAILING_BIN_KEY, value);
  const initial = request.get(ECHO_INITIAL_KEY);
  if (initial.length === 0) return undefined;
  const header = new Metadata();
  for (const value of initial) header.add(ECHO_INITIAL_KEY, value);
  return header;
}
