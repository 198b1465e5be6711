import { chatV1, protoFiles } from "@polyrpc/proto";
import { createLogger, serverTls, startCallPipeline, type Logger } from "@polyrpc/server-kit";
import { startConnectServer, type ConnectServerHandle } from "@polyrpc/server-kit/connect";
import { InProcessChatBus, type ChatBus } from "./chat-bus.js";
import type { ChatLog } from "./chat-log.js";
import { chatServiceImpl } from "./chat-service.js";
import type { ChatConfig } from "./config.js";
import { SqliteChatLog } from "./sqlite-chat-log.js";
import { GrpcUserDirectory, type UserDirectory } from "./user-directory.js";
import { loadWebPage } from "./web-page.js";

export interface RunningChat {
  server: ConnectServerHandle;
  log: ChatLog;
  bus: ChatBus;
  logger: Logger;
  /** Graceful shutdown of the server, then the user-service channel and the log. */
  stop(): Promise<void>;
}

export interface ChatOverrides {
  log?: ChatLog;
  bus?: ChatBus;
  users?: UserDirectory & { close?(): void };
  logger?: Logger;
}

/**
 * Opens the message log, connects to the user service, and serves ChatService over gRPC,
 * gRPC-Web and Connect on one port, with health, reflection and the browser page at `/`.
 */
export async function startChat(config: Readonly<ChatConfig>, overrides: ChatOverrides = {}): Promise<RunningChat> {
  const logger = overrides.logger ?? createLogger({ name: "chat", level: config.LOG_LEVEL });
  const log = overrides.log ?? new SqliteChatLog(config.DATABASE_PATH);
  const bus = overrides.bus ?? new InProcessChatBus();
  const users =
    overrides.users ??
    new GrpcUserDirectory({
      address: config.USER_SERVICE_ADDRESS,
      cacheTtlMs: config.USER_CACHE_TTL_MS,
      outageGraceMs: config.USER_OUTAGE_GRACE_MS,
      lookupTimeoutMs: config.USER_LOOKUP_TIMEOUT_MS,
    });
  const pipeline = await startCallPipeline(config, { serviceName: "chat", log: logger });
  const impl = chatServiceImpl({ log, bus, users, bufferLimit: config.SUBSCRIBER_BUFFER, logger });
  const server = await startConnectServer({
    host: config.HOST,
    port: config.PORT,
    services: [chatV1.ChatService],
    routes: (router) => router.service(chatV1.ChatService, impl),
    files: protoFiles,
    limits: config,
    log: logger,
    corsOrigins: config.CORS_ORIGINS,
    tls: serverTls(config),
    hooks: pipeline.hooks,
    fallback: await loadWebPage(),
  });
  return {
    server,
    log,
    bus,
    logger,
    async stop() {
      await server.shutdown();
      await pipeline.stop();
      users.close?.();
      await log.close();
    },
  };
}
