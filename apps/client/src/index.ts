export { bearerTokenInterceptor, channelOptionsWithToken, isBearerToken } from "./bearer-token.js";
export { connectChatService, type ChatServiceClient } from "./connect-chat-service.js";
export { formatChatEvent, formatChatMessage, formatJoined, formatPresence } from "./chat-format.js";
export {
  connectUserService,
  userServiceChannelOptions,
  type ConnectOptions,
  type UserServiceClient,
} from "./connect-user-service.js";
export {
  DEVELOPMENT_AUDIENCE,
  DEVELOPMENT_ISSUER,
  mintDevelopmentToken,
  parseTtl,
  type DevelopmentTokenOptions,
} from "./development-token.js";
export { errorInfo, hasStatus, statusName, type ErrorInfo } from "./error-info.js";
export { isServiceError, type CallOptions } from "@polyrpc/grpc-client";
export {
  listUsersPage,
  listUsersPages,
  nextPageTokenOf,
  NEXT_PAGE_TOKEN_KEY,
  type PageRequest,
  type UsersPage,
} from "./list-users-page.js";
export {
  LOAD_BALANCING_POLICIES,
  loadBalancingConfig,
  READ_RETRY_POLICY,
  USER_SERVICE_CONFIG,
  userServiceConfig,
  type LoadBalancing,
} from "./service-config.js";
export {
  DEFAULT_RECONNECT_BACKOFF,
  reconnectDelayMs,
  resumingSubscription,
  type ReconnectBackoff,
  type ResumeNotice,
  type ResumingSubscriptionOptions,
} from "./resuming-subscription.js";
