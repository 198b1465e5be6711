import type { CallContext, CallHook } from "@polyrpc/server-kit";

/** The request headers the official gRPC interop tests ask servers to send back. */
export const ECHO_INITIAL_KEY = "x-grpc-test-echo-initial";
export const ECHO_TRAILING_BIN_KEY = "x-grpc-test-echo-trailing-bin";

type EchoHeaders = Pick<CallContext, "responseHeader" | "responseTrailer">;

function echo(header: (name: string) => string | null | undefined, into: EchoHeaders): void {
  const initial = header(ECHO_INITIAL_KEY);
  if (initial != null) into.responseHeader.set(ECHO_INITIAL_KEY, initial);
  // A `-bin` value is its base64 text on both runtimes, and goes back out as it came.
  const trailing = header(ECHO_TRAILING_BIN_KEY);
  if (trailing != null) into.responseTrailer.set(ECHO_TRAILING_BIN_KEY, trailing);
}

/**
 * What the gRPC interop tests' `custom_metadata` case expects of a server: the value of
 * `x-grpc-test-echo-initial` comes back in the response headers, the value of
 * `x-grpc-test-echo-trailing-bin` in the trailers.
 */
export function echoTestMetadata(ctx: EchoHeaders & Pick<CallContext, "requestHeader">): void {
  echo((name) => ctx.requestHeader.get(name), ctx);
}

/**
 * The same echo as a call hook, for a server that is not the interop test service: the matrix
 * runs polyrpc's user service with it (see interop/matrix/src/polyrpc-user-service.ts), so the
 * docs' Go and Python clients' metadata check has something to check. Production servers never
 * load it.
 */
export function echoTestMetadataHook(): CallHook {
  return { start: (call) => echo(call.header, call) };
}
