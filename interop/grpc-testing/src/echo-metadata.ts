/**
 * The request metadata the interop `custom_metadata` case sends and expects back: the value of
 * `x-grpc-test-echo-initial` in the response headers, the value of `x-grpc-test-echo-trailing-bin`
 * (binary) in the trailers.
 */
export const ECHO_INITIAL_KEY = "x-grpc-test-echo-initial";
export const ECHO_TRAILING_BIN_KEY = "x-grpc-test-echo-trailing-bin";
