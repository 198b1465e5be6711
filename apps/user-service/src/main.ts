#!/usr/bin/env -S node --import tsx
import { ConfigError, exitOnSignals } from "@polyrpc/server-kit";
import { loadUserServiceConfig } from "./config.js";
import { startUserService } from "./server.js";

try {
  const config = loadUserServiceConfig();
  const service = await startUserService(config);
  exitOnSignals(() => service.stop(), service.log);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`user-service: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}
