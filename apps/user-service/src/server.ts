import { protoFiles, UserService } from "@polyrpc/proto";
import {
  createLogger,
  implementService,
  redactUrlPassword,
  serverTls,
  startCallPipeline,
  type CallHook,
  type Logger,
  type ServerHandle,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import type { Registry } from "@polyrpc/server-kit/observability";
import { postgresPoolOptions } from "@polyrpc/server-kit/postgres";
import type { UserServiceConfig } from "./config.js";
import { PostgresUserStore } from "./postgres-user-store.js";
import { SqliteUserStore } from "./sqlite-user-store.js";
import { userServiceImpl } from "./user-service.js";
import type { UserStore } from "./user-store.js";

export interface RunningUserService {
  server: ServerHandle;
  store: UserStore;
  log: Logger;
  /** Graceful shutdown of the server, then the store. */
  stop(): Promise<void>;
}

export interface UserServiceOverrides {
  store?: UserStore;
  log?: Logger;
  /**
   * Records the call metrics in this registry instead of serving them on METRICS_PORT: a cluster
   * worker's, which the primary collects and serves for all workers (src/cluster.ts).
   */
  metricsRegistry?: Registry;
  /** What the line logged once the port is bound says ("gRPC server listening" by default). */
  listeningMessage?: string;
  /** Call hooks run after the call pipeline's: a test harness's (the interop matrix's echo). */
  extraHooks?: readonly CallHook[];
}

/**
 * Opens the store the configuration names: PostgreSQL when DATABASE_URL is set (migrated under an
 * advisory lock, so replicas may start together), else the SQLite file at DATABASE_PATH.
 */
export async function openUserStore(config: Readonly<UserServiceConfig>, log: Logger): Promise<UserStore> {
  if (config.DATABASE_URL) {
    const store = await PostgresUserStore.open({ ...postgresPoolOptions(config, "user-service"), log });
    log.info({ storage: "postgres", database: redactUrlPassword(config.DATABASE_URL) }, "user store open");
    return store;
  }
  const store = new SqliteUserStore(config.DATABASE_PATH);
  log.info({ storage: "sqlite", database: config.DATABASE_PATH }, "user store open");
  return store;
}

/** Opens the store and serves UserService with health and reflection on the configured port. */
export async function startUserService(
  config: Readonly<UserServiceConfig>,
  overrides: UserServiceOverrides = {},
): Promise<RunningUserService> {
  const log = overrides.log ?? createLogger({ name: "user-service", level: config.LOG_LEVEL });
  const store = overrides.store ?? (await openUserStore(config, log));
  const pipeline = await startCallPipeline(config, {
    serviceName: "user-service",
    log,
    ...(overrides.metricsRegistry && { metricsRegistry: overrides.metricsRegistry }),
  });
  const server = await startGrpcServer({
    host: config.HOST,
    port: config.PORT,
    services: [implementService(UserService, userServiceImpl({ store, passwordHashCost: config.PASSWORD_HASH_COST }))],
    files: protoFiles,
    limits: config,
    log,
    tls: serverTls(config),
    hooks: [...pipeline.hooks, ...(overrides.extraHooks ?? [])],
    ...(overrides.listeningMessage && { listeningMessage: overrides.listeningMessage }),
  });
  return {
    server,
    store,
    log,
    async stop() {
      await server.shutdown();
      await pipeline.stop();
      await store.close();
    },
  };
}
