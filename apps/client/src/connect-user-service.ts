import {
  type ChannelCredentials,
  type ChannelOptions,
  createGrpcClient,
  type GrpcClient,
  isServiceError,
  status,
} from "@polyrpc/grpc-client";
import { UserService } from "@polyrpc/proto";
import { channelOptionsWithToken } from "./bearer-token.js";
import { userServiceConfig, type LoadBalancing } from "./service-config.js";

/** A typed UserService client: `client.methods.getUser(...)` and friends, plus `close()`. */
export type UserServiceClient = GrpcClient<typeof UserService>;

/** How `connectUserService` and `connectChatService` open their channel. */
export interface ConnectOptions {
  /** TLS or other channel credentials; plaintext when omitted. */
  credentials?: ChannelCredentials;
  /**
   * Extra grpc-js channel options (keepalive, load balancing, ...). For the UserService they are
   * applied after the defaults, so passing `grpc.service_config` replaces USER_SERVICE_CONFIG.
   */
  channelOptions?: ChannelOptions;
  /**
   * A bearer token (a JWT, without `Bearer `) sent as `authorization: Bearer <token>` with every
   * call, through a client interceptor (see bearerTokenInterceptor). A call's own `authorization`
   * metadata wins.
   */
  token?: string | undefined;
  /** How calls spread over a target with several addresses (default pick_first); see LoadBalancing. */
  loadBalancing?: LoadBalancing | undefined;
}

/** The channel options every UserService channel starts from: retries on, the UserService config. */
export function userServiceChannelOptions(
  extra: ChannelOptions = {},
  loadBalancing: LoadBalancing = "pick_first",
): ChannelOptions {
  return {
    "grpc.enable_retries": 1,
    "grpc.service_config": JSON.stringify(userServiceConfig(loadBalancing)),
    ...extra,
  };
}

/**
 * Opens a channel to a UserService at `target` (`host:port`, or any grpc-js target such as
 * `dns:///users.example:50051`). The channel connects lazily on the first call and retries the
 * idempotent reads on UNAVAILABLE (see USER_SERVICE_CONFIG). With `token`, every call carries it.
 * Call `close()` when done.
 */
export function connectUserService(target: string, options: ConnectOptions = {}): UserServiceClient {
  const client = createGrpcClient(UserService, target, {
    credentials: options.credentials,
    channelOptions: channelOptionsWithToken(
      userServiceChannelOptions(options.channelOptions, options.loadBalancing),
      options.token,
    ),
  });
  return { ...client, methods: { ...client.methods, getUser: retryCommittedRead(client.methods.getUser) } };
}

/** How many times a GetUser whose connection broke after the response began is tried again. */
const COMMITTED_READ_RETRIES = 2;

/**
 * grpc-js retries a call on UNAVAILABLE only until the call is committed, that is until response
 * headers arrive (gRFC A6). A replica that dies between sending the headers and the response (a
 * kill -9 under load) leaves such a call failed with UNAVAILABLE although nothing went wrong
 * that a second attempt would not fix. GetUser is a read, so it is tried again, after a short
 * jittered pause and within the caller's deadline; every other UNAVAILABLE is the caller's.
 */
function retryCommittedRead(getUser: UserServiceClient["methods"]["getUser"]): UserServiceClient["methods"]["getUser"] {
  return async (request, options = {}) => {
    const deadline =
      options.deadline ?? (options.timeoutMs !== undefined ? new Date(Date.now() + options.timeoutMs) : undefined);
    for (let attempt = 0; ; attempt++) {
      let committed = false;
      try {
        return await getUser(request, {
          ...options,
          ...(deadline && { deadline }),
          onHeader: (header) => {
            committed = true;
            options.onHeader?.(header);
          },
        });
      } catch (err) {
        const again =
          committed &&
          attempt < COMMITTED_READ_RETRIES &&
          isServiceError(err) &&
          err.code === status.UNAVAILABLE &&
          !options.signal?.aborted;
        const pauseMs = 20 + Math.random() * 80;
        if (!again || (deadline && deadline.getTime() - Date.now() <= pauseMs)) throw err;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
  };
}
