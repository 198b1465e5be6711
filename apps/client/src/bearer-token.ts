import { InterceptingCall, type ChannelOptions, type Interceptor } from "@polyrpc/grpc-client";

/** A bearer token as it may appear after `Bearer ` (RFC 6750 b64token): no spaces, no scheme. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** True when `token` can be sent as `authorization: Bearer <token>`. */
export function isBearerToken(token: string): boolean {
  return B64TOKEN.test(token);
}

/**
 * A grpc-js client interceptor that sends `authorization: Bearer <token>` with every call of the
 * channel, unless the call's own metadata already carries an `authorization`.
 *
 * An interceptor rather than call credentials: grpc-js refuses to compose call credentials with
 * insecure channel credentials, and the local platform runs in plaintext. Over plaintext the token
 * is readable on the wire, so use TLS (`credentials`) anywhere but your own machine.
 */
export function bearerTokenInterceptor(token: string): Interceptor {
  if (!isBearerToken(token)) throw new TypeError('a bearer token has no spaces and no "Bearer " prefix');
  const header = `Bearer ${token}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (metadata.get("authorization").length === 0) metadata.set("authorization", header);
        next(metadata, listener);
      },
    });
}

/** `channelOptions` plus, when there is a token, the interceptor that sends it (before any others). */
export function channelOptionsWithToken(
  channelOptions: ChannelOptions | undefined,
  token: string | undefined,
): ChannelOptions | undefined {
  if (token === undefined) return channelOptions;
  // grpc-js' Client takes `interceptors` from the options it is constructed with.
  const interceptors = (channelOptions?.interceptors as Interceptor[] | undefined) ?? [];
  return { ...channelOptions, interceptors: [bearerTokenInterceptor(token), ...interceptors] };
}
