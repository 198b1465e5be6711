#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
import cluster from "node:cluster";
import { ConfigError, exitOnSignals } from "@polyrpc/server-kit";
import { SqliteOpenError } from "@polyrpc/server-kit/sqlite";
import { startPrimary, startWorker } from "./cluster.js";
import { loadUserServiceConfig } from "./config.js";
import { startUserService } from "./server.js";

try {
  const config = loadUserServiceConfig();
  if (config.WORKERS === 1) {
    const service = await startUserService(config);
    exitOnSignals(() => service.stop(), service.log);
  } else if (cluster.isPrimary) {
    // Migrates, forks WORKERS workers (which run this file again) and supervises them.
    await startPrimary(config);
  } else {
    await startWorker(config);
  }
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`user-service: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof SqliteOpenError) {
    console.error(`user-service: ${err.message}`);
    process.exit(74); // EX_IOERR
  }
  throw err;
}
