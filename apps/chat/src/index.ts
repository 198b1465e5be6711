export { chatEnvSchema, loadChatConfig, type ChatConfig } from "./config.js";
export type { ChatLog, ReadOptions, StoredMessage } from "./chat-log.js";
export { migrate, SqliteChatLog, type SqliteChatLogOptions } from "./sqlite-chat-log.js";
export {
  InProcessChatBus,
  roomOf,
  type ChatBus,
  type ChatEvent,
  type ChatEventListener,
  type Presence,
  type Unsubscribe,
} from "./chat-bus.js";
export { HISTORY_PAGE_SIZE, openRoomStream, type RoomStream, type RoomStreamOptions } from "./room-stream.js";
export {
  GrpcUserDirectory,
  UnknownUserError,
  UserServiceUnavailableError,
  type GrpcUserDirectoryOptions,
  type UserDirectory,
  type UserLookupCall,
} from "./user-directory.js";
export { chatServiceImpl, type ChatServiceDeps } from "./chat-service.js";
export { startChat, type ChatOverrides, type RunningChat } from "./server.js";
