import { chatV1, protoFiles } from "@polyrpc/proto";
import {
  createLogger,
  implementService,
  redactUrlPassword,
  serverTls,
  startCallPipeline,
  type Logger,
  type ServerHandle,
} from "@polyrpc/server-kit";
import { startConnectServer } from "@polyrpc/server-kit/connect";
import { createPostgresPool, postgresPoolOptions } from "@polyrpc/server-kit/postgres";
import { InProcessChatBus, type ChatBus } from "./chat-bus.js";
import type { ChatLog } from "./chat-log.js";
import { chatServiceImpl } from "./chat-service.js";
import type { ChatConfig } from "./config.js";
import { PostgresChatBus } from "./postgres-chat-bus.js";
import { PostgresChatLog } from "./postgres-chat-log.js";
import { SqliteChatLog } from "./sqlite-chat-log.js";
import { GrpcUserDirectory, type UserDirectory } from "./user-directory.js";
import { loadWebPage } from "./web-page.js";

export interface RunningChat {
  server: ServerHandle;
  log: ChatLog;
  bus: ChatBus;
  logger: Logger;
  /** Graceful shutdown of the server, then the user-service channel, the bus and the log. */
  stop(): Promise<void>;
}

export interface ChatOverrides {
  log?: ChatLog;
  bus?: ChatBus;
  users?: UserDirectory & { close?(): void };
  logger?: Logger;
}

/**
 * The log and the bus the configuration asks for: with DATABASE_URL, the PostgreSQL log (migrated
 * at start-up) and the LISTEN/NOTIFY bus, so that several replicas share rooms; otherwise the
 * SQLite file at DATABASE_PATH and the in-process bus of a single replica.
 */
export async function openChatStorage(
  config: Readonly<ChatConfig>,
  logger: Logger,
): Promise<{ log: ChatLog; bus: ChatBus }> {
  if (!config.DATABASE_URL) {
    logger.info({ storage: "sqlite", path: config.DATABASE_PATH }, "chat storage");
    return { log: new SqliteChatLog(config.DATABASE_PATH), bus: new InProcessChatBus() };
  }
  logger.info({ storage: "postgres", url: redactUrlPassword(config.DATABASE_URL) }, "chat storage");
  const pool = createPostgresPool({ ...postgresPoolOptions(config, "polyrpc-chat"), log: logger });
  let log: PostgresChatLog | undefined;
  try {
    log = await PostgresChatLog.open(pool);
    const bus = new PostgresChatBus({
      // Its own connection, outside the pool: a LISTEN lives as long as the connection.
      connection: {
        connectionString: config.DATABASE_URL,
        application_name: "polyrpc-chat-listen",
        connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS,
      },
      pool,
      log,
      logger,
    });
    await bus.start();
    return { log, bus };
  } catch (err) {
    await (log ? log.close() : pool.end()).catch(() => {});
    throw err;
  }
}

/**
 * Opens the message log, connects to the user service, and serves ChatService over gRPC,
 * gRPC-Web and Connect on one port, with health, reflection and the browser page at `/`.
 */
export async function startChat(config: Readonly<ChatConfig>, overrides: ChatOverrides = {}): Promise<RunningChat> {
  const logger = overrides.logger ?? createLogger({ name: "chat", level: config.LOG_LEVEL });
  const opened = overrides.log && overrides.bus ? undefined : await openChatStorage(config, logger);
  const log = overrides.log ?? opened!.log;
  const bus = overrides.bus ?? opened!.bus;
  // A half override: what was opened but is not used is closed right away (the bus first: it reads the log).
  if (opened && overrides.bus) await opened.bus.close?.();
  if (opened && overrides.log) await opened.log.close();
  const users =
    overrides.users ??
    new GrpcUserDirectory({
      address: config.USER_SERVICE_ADDRESS,
      loadBalancingPolicy: config.USER_SERVICE_LB_POLICY,
      cacheTtlMs: config.USER_CACHE_TTL_MS,
      outageGraceMs: config.USER_OUTAGE_GRACE_MS,
      lookupTimeoutMs: config.USER_LOOKUP_TIMEOUT_MS,
    });
  const pipeline = await startCallPipeline(config, { serviceName: "chat", log: logger });
  const impl = chatServiceImpl({ log, bus, users, bufferLimit: config.SUBSCRIBER_BUFFER, logger });
  const server = await startConnectServer({
    host: config.HOST,
    port: config.PORT,
    services: [implementService(chatV1.ChatService, impl)],
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
      await bus.close?.();
      await log.close();
    },
  };
}
