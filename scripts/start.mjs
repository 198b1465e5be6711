#!/usr/bin/env node
// Starts every polyrpc service on its embedded defaults (SQLite under ./data), waits until each is
// listening, runs the client demo against the user service, sends a chat message, and keeps them
// running until Ctrl-C.
//
//   pnpm start                    start, demo, keep running
//   pnpm start --exit-after-demo  start, demo, stop (exit 0 only if everything answered)
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const exitAfterDemo = process.argv.includes("--exit-after-demo");
/** Where the services keep their SQLite files: ./data/<service>.db unless POLYRPC_DATA_DIR says otherwise. */
const dataDir = process.env.POLYRPC_DATA_DIR ?? join(root, "data");

/** The services `pnpm start` runs, in start order; `env` may use the targets of those before. */
const services = [
  {
    name: "user-service",
    entry: "apps/user-service/src/main.ts",
    port: process.env.USER_SERVICE_PORT ?? "50051",
    env: () => ({ METRICS_PORT: process.env.USER_SERVICE_METRICS_PORT ?? "9464" }),
  },
  {
    name: "chat",
    entry: "apps/chat/src/main.ts",
    port: process.env.CHAT_PORT ?? "50052",
    env: (targets) => ({
      USER_SERVICE_ADDRESS: targets["user-service"],
      METRICS_PORT: process.env.CHAT_METRICS_PORT ?? "9465",
    }),
  },
];

const children = [];

function startService({ name, entry, port, env }, targets) {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, entry)], {
    cwd: root,
    // The local, single-machine platform: development mode (authentication off unless AUTH_MODE
    // says otherwise), each service with its own database file and metrics port.
    env: {
      POLYRPC_ENV: "development",
      ...process.env,
      PORT: port,
      DATABASE_PATH: join(dataDir, `${name}.db`),
      ...env?.(targets),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        console.log(`[${name}] ${line}`);
        return;
      }
      console.log(`[${name}] ${entry.level} ${entry.msg}${entry.method ? ` ${entry.method} ${entry.code}` : ""}`);
      // The RPC port (the metrics server logs its own "listening" line with another port).
      if (typeof entry.port === "number" && /^(gRPC|Connect) server listening/.test(entry.msg)) {
        resolve(`localhost:${entry.port}`);
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with code ${code} before it was listening`)));
  });
}

/** Runs the polyrpc CLI; resolves with its exit code and, when `capture` is set, its stdout. */
function cli(args, { capture = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "apps/client/src/cli.ts"), ...args], {
      cwd: root,
      stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"],
    });
    let stdout = "";
    child.stdout?.on("data", (chunk) => (stdout += chunk));
    child.once("exit", (code) => resolve({ code: code ?? 1, stdout }));
  });
}

async function stopAll() {
  await Promise.all(
    children
      .filter((c) => c.exitCode === null)
      .map((c) => new Promise((resolve) => c.once("exit", resolve).kill("SIGTERM"))),
  );
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping…");
    await stopAll();
    process.exit(0);
  });
}

try {
  const targets = {};
  for (const service of services) targets[service.name] = await startService(service, targets);
  const { "user-service": userService, chat } = targets;

  console.log(`\nRunning the client demo against UserService at ${userService}\n`);
  const demo = await cli(["demo", "--target", userService]);
  if (demo.code !== 0) throw new Error(`the demo failed (exit ${demo.code})`);

  // A user for the chat, and a first message in the lobby, through the chat's gRPC API.
  const suffix = Math.random().toString(36).slice(2, 8);
  const created = await cli(
    [
      "create",
      "--username",
      `guest-${suffix}`,
      "--email",
      `guest-${suffix}@example.com`,
      "--password",
      "polyrpc-guest",
      "--json",
      "--target",
      userService,
    ],
    { capture: true },
  );
  const guest = JSON.parse(created.stdout).id;
  console.log(`\nSending a chat message to room "lobby" at ${chat} as guest-${suffix}\n`);
  const sent = await cli(["chat", "send", "lobby", "--user", guest, "hello from make start", "--chat-target", chat]);
  if (sent.code !== 0) throw new Error(`the chat message was not sent (exit ${sent.code})`);
  console.log("\nstart passed: the user service and the chat answered");

  if (exitAfterDemo) {
    await stopAll();
    process.exit(0);
  }
  console.log(`
polyrpc is running:
  UserService (gRPC)                 ${userService}    data: ./data/user-service.db
  ChatService (gRPC, gRPC-Web, Connect)  ${chat}    data: ./data/chat.db

Chat in the browser:   http://${chat}/?room=lobby&user=${guest}
Chat in a terminal:    pnpm --filter @polyrpc/client cli chat join lobby --user ${guest}
Call with grpcurl:     grpcurl -plaintext ${userService} list

Ctrl-C stops everything.`);
} catch (err) {
  console.error(String(err));
  await stopAll();
  process.exit(1);
}
