import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";
import { UserService } from "@polyrpc/proto";
import { createGrpcClient, type GrpcClient } from "@polyrpc/server-kit/client";
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
  return createGrpcClient(UserService, target, {
    credentials: options.credentials,
    channelOptions: channelOptionsWithToken(
      userServiceChannelOptions(options.channelOptions, options.loadBalancing),
      options.token,
    ),
  });
}
