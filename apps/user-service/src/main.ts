#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
import cluster from "node:cluster";
import { runServer } from "@polyrpc/server-kit";
import { startPrimary, startWorker } from "./cluster.js";
import { loadUserServiceConfig } from "./config.js";
import { startUserService } from "./server.js";

await runServer("user-service", async () => {
  const config = loadUserServiceConfig();
  if (config.WORKERS === 1) return startUserService(config);
  // The primary migrates, forks WORKERS workers (which run this file again) and supervises them;
  // both handle their own signals.
  if (cluster.isPrimary) await startPrimary(config);
  else await startWorker(config);
});
