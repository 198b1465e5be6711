#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
import { ConfigError, exitOnSignals } from "@polyrpc/server-kit";
import { SqliteOpenError } from "@polyrpc/server-kit/sqlite";
import { loadChatConfig } from "./config.js";
import { startChat } from "./server.js";

try {
  const config = loadChatConfig();
  const chat = await startChat(config);
  exitOnSignals(() => chat.stop(), chat.logger);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`chat: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof SqliteOpenError) {
    console.error(`chat: ${err.message}`);
    process.exit(74); // EX_IOERR
  }
  throw err;
}
