#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
import { runServer } from "@polyrpc/server-kit";
import { loadChatConfig } from "./config.js";
import { startChat } from "./server.js";

await runServer("chat", async () => {
  const chat = await startChat(loadChatConfig());
  return { log: chat.logger, stop: () => chat.stop() };
});
