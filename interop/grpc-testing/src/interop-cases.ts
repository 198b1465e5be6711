/**
 * The interop cases polyrpc runs, by their names in grpc-go's interop client (`--test_case`). See
 * https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md for what each checks.
 */
export const INTEROP_CASES = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "timeout_on_sleeping_server",
  "cancel_after_begin",
  "cancel_after_first_response",
  "custom_metadata",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
] as const;

export type InteropCase = (typeof INTEROP_CASES)[number];
