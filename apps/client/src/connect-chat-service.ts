import { chatV1 } from "@polyrpc/proto";
import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import { channelOptionsWithToken } from "./bearer-token.js";
import type { ConnectOptions } from "./connect-user-service.js";
import { loadBalancingConfig } from "./service-config.js";

/** A typed ChatService client: `client.methods.chat(...)`, `subscribe`, `sendMessage`, `getHistory`, plus `close()`. */
export type ChatServiceClient = GrpcClient<typeof chatV1.ChatService>;

/**
 * Opens a channel to a ChatService at `target` (`host:port`, or any grpc-js target), plaintext
 * unless `credentials` say otherwise. The channel connects lazily on the first call. It carries no
 * retry policy: SendMessage is a write (repeating it would store the message twice), and a broken
 * Chat or Subscribe stream is resumed by the caller with `after_sequence`, the last sequence it
 * saw, which neither loses nor repeats a message. With `token`, every call carries it. Call
 * `close()` when done.
 */
export function connectChatService(target: string, options: ConnectOptions = {}): ChatServiceClient {
  return createGrpcClient(chatV1.ChatService, target, {
    credentials: options.credentials,
    channelOptions: channelOptionsWithToken(
      {
        "grpc.service_config": JSON.stringify({
          loadBalancingConfig: loadBalancingConfig(options.loadBalancing ?? "pick_first"),
        }),
        ...options.channelOptions,
      },
      options.token,
    ),
  });
}
