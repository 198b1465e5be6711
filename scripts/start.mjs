#!/usr/bin/env node
// Starts every polyrpc service on its embedded defaults (SQLite under ./data) behind the real Envoy
// sidecars the Helm chart configures (TLS with a development CA made now, per-RPC balancing over
// the replicas), runs the client demo through Envoy over TLS, sends a chat message, and keeps
// everything running until Ctrl-C.
//
//   pnpm start                    start, demo, keep running
//   pnpm start --exit-after-demo  start, demo, stop (exit 0 only if everything answered)
//   pnpm start --postgres         the same with a local PostgreSQL (./data/postgres) shared by
//                                 several replicas of each service, chat fan-out through it
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { tsImport } from "tsx/esm/api";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const exitAfterDemo = process.argv.includes("--exit-after-demo");
const withPostgres = process.argv.includes("--postgres");
/** Where the services keep their SQLite files: ./data/<service>.db unless POLYRPC_DATA_DIR says otherwise. */
const dataDir = process.env.POLYRPC_DATA_DIR ?? join(root, "data");
/** The Envoy helpers of infra/envoy (TypeScript, loaded through tsx like the apps). */
const envoy = await tsImport("../infra/envoy/src/index.ts", import.meta.url);

/** A port from the environment; 0 picks a free one. */
const portOf = (name, fallback) => Number(process.env[name] ?? fallback);

/** Envoy's ports: the two TLS listeners callers use, the admin pages and the chat's outbound listener. */
const ports = await envoy.sidecarPorts({
  userService: portOf("USER_SERVICE_PORT", 8443),
  chat: portOf("CHAT_PORT", 8444),
  userServiceAdmin: portOf("USER_SERVICE_ENVOY_ADMIN_PORT", 9901),
  chatAdmin: portOf("CHAT_ENVOY_ADMIN_PORT", 9902),
  outbound: portOf("USER_SERVICE_OUTBOUND_PORT", 15001),
});
const userServiceReplicas = portOf("USER_SERVICE_REPLICAS", 2);
/** Several chat replicas need a shared database for their rooms: one on SQLite, two on PostgreSQL. */
const chatReplicas = portOf("CHAT_REPLICAS", withPostgres ? 2 : 1);
if (chatReplicas > 1 && !withPostgres) {
  console.error("CHAT_REPLICAS > 1 needs --postgres: chat replicas fan out through PostgreSQL");
  process.exit(2);
}

/**
 * With --postgres: PostgreSQL from Debian's package, its cluster kept in ./data/postgres, on a
 * loopback port (POSTGRES_PORT, default a free one); every replica gets DATABASE_URL.
 */
let postgres;
if (withPostgres) {
  const { startLocalPostgres } = await tsImport("../packages/testing/src/index.ts", import.meta.url);
  postgres = await startLocalPostgres({ dir: join(dataDir, "postgres"), port: portOf("POSTGRES_PORT", 0) });
  const exists = (await postgres.sql("SELECT 1 FROM pg_database WHERE datname = 'polyrpc'")).trim() === "1";
  if (!exists) await postgres.createDatabase("polyrpc");
}
const databaseEnv = (app) =>
  postgres
    ? { DATABASE_URL: postgres.url.replace(/\/postgres$/, "/polyrpc") }
    : { DATABASE_PATH: join(dataDir, `${app}.db`) };

/**
 * The app processes, in start order. The replicas listen on free loopback ports behind Envoy; the
 * user service's replicas share one SQLite file (WAL), the chat asks the user service through its
 * Envoy's outbound listener.
 */
const services = [
  ...Array.from({ length: userServiceReplicas }, (_, i) => ({
    name: userServiceReplicas > 1 ? `user-service-${i + 1}` : "user-service",
    app: "user-service",
    entry: "apps/user-service/src/main.ts",
    // The first replica keeps the documented metrics port; the others take free ones.
    env: { METRICS_PORT: i === 0 ? (process.env.USER_SERVICE_METRICS_PORT ?? "9464") : "0" },
  })),
  ...Array.from({ length: chatReplicas }, (_, i) => ({
    name: chatReplicas > 1 ? `chat-${i + 1}` : "chat",
    app: "chat",
    entry: "apps/chat/src/main.ts",
    env: {
      USER_SERVICE_ADDRESS: `127.0.0.1:${ports.outbound}`,
      METRICS_PORT: i === 0 ? (process.env.CHAT_METRICS_PORT ?? "9465") : "0",
    },
  })),
];

const children = [];
let sidecars;

function startService({ name, app, entry, env }) {
  const child = spawn(process.execPath, ["--conditions=polyrpc-source", "--import", "tsx", join(root, entry)], {
    cwd: root,
    // The local, single-machine platform: development mode (authentication off unless AUTH_MODE
    // says otherwise), each app with its own database file and metrics port, plaintext on
    // loopback: Envoy terminates TLS in front of it.
    env: {
      POLYRPC_ENV: "development",
      ...process.env,
      HOST: "127.0.0.1",
      PORT: "0",
      ...databaseEnv(app),
      ...env,
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
      const detail = entry.method ? ` ${entry.method} ${entry.code}` : entry.storage ? ` (${entry.storage})` : "";
      console.log(`[${name}] ${entry.level} ${entry.msg}${detail}`);
      // The RPC port (the metrics server logs its own "listening" line with another port).
      if (typeof entry.port === "number" && /^(gRPC|Connect) server listening/.test(entry.msg)) {
        resolve({ app, address: "127.0.0.1", port: entry.port });
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with code ${code} before it was listening`)));
  });
}

/** Runs the polyrpc CLI; resolves with its exit code and, when `capture` is set, its stdout. */
function cli(args, { capture = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--conditions=polyrpc-source", "--import", "tsx", join(root, "apps/client/src/cli.ts"), ...args],
      {
        cwd: root,
        stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"],
      },
    );
    let stdout = "";
    child.stdout?.on("data", (chunk) => (stdout += chunk));
    child.once("exit", (code) => resolve({ code: code ?? 1, stdout }));
  });
}

async function stopAll() {
  await sidecars?.stop();
  await Promise.all(
    children
      .filter((c) => c.exitCode === null)
      .map((c) => new Promise((resolve) => c.once("exit", resolve).kill("SIGTERM"))),
  );
  await postgres?.destroy();
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
  // The first replica creates the schema; the others open the same files (on PostgreSQL they
  // could all start at once: migrations take an advisory lock).
  const replicas = [await startService(services[0])];
  replicas.push(...(await Promise.all(services.slice(1).map(startService))));

  // A development CA and server certificate for localhost, made now into the data directory.
  const envoyDir = join(dataDir, "envoy");
  const tls = envoy.createDevelopmentCertificates(join(envoyDir, "pki"));
  sidecars = await envoy.startLocalSidecars({
    dir: envoyDir,
    tls,
    ports,
    userService: replicas.filter((r) => r.app === "user-service"),
    chat: replicas.filter((r) => r.app === "chat"),
    // Envoy's warnings and errors, and its health-check events (a replica ejected or back).
    onLine: (app, line) => {
      if (/\[(warning|error|critical)\]|health_checker_address|"host":/.test(line))
        console.log(`[envoy ${app}] ${line}`);
    },
  });
  const userService = `localhost:${ports.userService}`;
  const chat = `localhost:${ports.chat}`;
  const caArgs = ["--ca", tls.ca];
  console.log(
    `\nEnvoy (from the Helm chart's config) listening with TLS: UserService at ${userService}, ChatService at ${chat}`,
  );

  console.log(`\nRunning the client demo against UserService at ${userService} through Envoy over TLS\n`);
  const demo = await cli(["demo", "--target", userService, ...caArgs]);
  if (demo.code !== 0) throw new Error(`the demo failed (exit ${demo.code})`);
  // Envoy's own count of the calls it forwarded to each replica (its admin /clusters).
  const perReplica = (await sidecars.userService.hosts("local_app")).map((h) => `${h.address}: ${h.requests}`);
  console.log(`\nEnvoy balanced the demo's calls over the user-service replicas: ${perReplica.join(", ")}`);

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
      ...caArgs,
    ],
    { capture: true },
  );
  const guest = JSON.parse(created.stdout).id;
  console.log(`\nSending a chat message to room "lobby" at ${chat} as guest-${suffix}\n`);
  const sent = await cli([
    ...["chat", "send", "lobby", "--user", guest, "hello from make start", "--chat-target", chat],
    ...caArgs,
  ]);
  if (sent.code !== 0) throw new Error(`the chat message was not sent (exit ${sent.code})`);
  console.log("\nstart passed: the user service and the chat answered through Envoy over TLS");

  if (exitAfterDemo) {
    await stopAll();
    process.exit(0);
  }
  const appList = (app) =>
    replicas
      .filter((r) => r.app === app)
      .map((r) => `${r.address}:${r.port}`)
      .join(", ");
  const relCa = relative(process.cwd(), tls.ca);
  const dataOf = (app) =>
    postgres
      ? `${postgres.url.replace(/\/postgres$/, "/polyrpc")} (${join(dataDir, "postgres")})`
      : join(dataDir, `${app}.db`);
  const firstChat = replicas.find((r) => r.app === "chat");
  console.log(`
polyrpc is running behind Envoy (TLS 1.2+, certificate from a development CA: ${relCa}):
  UserService (gRPC)                     ${userService}  -> replicas ${appList("user-service")}  data: ${dataOf("user-service")}
  ChatService (gRPC, gRPC-Web, Connect)  ${chat}  -> replicas ${appList("chat")}  data: ${dataOf("chat")}
  Envoy admin (stats, clusters)          http://127.0.0.1:${ports.userServiceAdmin}, http://127.0.0.1:${ports.chatAdmin}

Chat in the browser:   https://${chat}/?room=lobby&user=${guest}  (trust ${relCa}, or use http://${firstChat.address}:${firstChat.port}/ directly)
Chat in a terminal:    pnpm --filter @polyrpc/client cli chat join lobby --user ${guest} --chat-target ${chat} --ca ${tls.ca}
Call with grpcurl:     grpcurl -cacert ${relCa} ${userService} list

Ctrl-C stops everything.`);
} catch (err) {
  console.error(String(err));
  await stopAll();
  process.exit(1);
}
