import type { RetryPolicy, ServiceConfig } from "@polyrpc/grpc-client";
import { UserService } from "@polyrpc/proto";

/**
 * How the idempotent reads are retried: up to 4 attempts in all, backing off 0.1 s, 0.2 s, 0.4 s
 * (each randomised by grpc-js, capped at 1 s), and only when the call failed with UNAVAILABLE,
 * the one status that says "nothing happened, try again".
 */
export const READ_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  initialBackoff: "0.1s",
  maxBackoff: "1s",
  backoffMultiplier: 2,
  retryableStatusCodes: ["UNAVAILABLE"],
});

const service = UserService.typeName;

/**
 * How a channel spreads calls over a target with several addresses (`dns:///name` resolving to
 * several, or `ipv4:a:1,b:2`): `pick_first` keeps one connection, to the first address that answers
 * in an order shuffled per connection (gRFC A62), so that clients spread out and, when a server's
 * max connection age closes the connection, reconnect elsewhere; `round_robin` keeps a connection
 * to every address and sends each call to the next. Use round_robin only where nothing in between
 * balances already (an Envoy sidecar does): one balancing owner per hop.
 */
export type LoadBalancing = "pick_first" | "round_robin";

export const LOAD_BALANCING_POLICIES: readonly LoadBalancing[] = ["pick_first", "round_robin"];

/** The `loadBalancingConfig` of a service config for `policy`. */
export function loadBalancingConfig(policy: LoadBalancing): ServiceConfig["loadBalancingConfig"] {
  return policy === "round_robin" ? [{ round_robin: {} }] : [{ pick_first: { shuffleAddressList: true } }];
}

/**
 * The gRPC service config (gRFC A6) a UserService channel is created with. GetUser and ListUsers
 * are reads, so repeating them is harmless and they retry on UNAVAILABLE. The writes (CreateUser,
 * UpdateUser, DeleteUser, CreateUsers) and Chat have no retry policy: a write that failed with
 * UNAVAILABLE may still have been applied, and repeating it could create a user twice or turn a
 * successful delete into NOT_FOUND. grpc-js still retries transparently when a call never left the
 * client, which is safe for every method.
 */
export function userServiceConfig(policy: LoadBalancing = "pick_first"): ServiceConfig {
  return {
    loadBalancingConfig: loadBalancingConfig(policy),
    methodConfig: [
      {
        name: [
          { service, method: UserService.method.getUser.name },
          { service, method: UserService.method.listUsers.name },
        ],
        retryPolicy: READ_RETRY_POLICY,
      },
    ],
  };
}

/** The UserService config with the default load balancing (pick_first, shuffled). */
export const USER_SERVICE_CONFIG: Readonly<ServiceConfig> = Object.freeze(userServiceConfig());
