#!/usr/bin/env node
// Starts every polyrpc service on its embedded defaults (SQLite under ./data), waits until each is
// listening, runs the client demo against them, and keeps them running until Ctrl-C.
//
//   pnpm start                    start, demo, keep running
//   pnpm start --exit-after-demo  start, demo, stop (exit code = the demo's)
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const exitAfterDemo = process.argv.includes("--exit-after-demo");

/** The services `pnpm start` runs, in start order. */
const services = [
  { name: "user-service", entry: "apps/user-service/src/main.ts", port: process.env.USER_SERVICE_PORT ?? "50051" },
];

const children = [];

function startService({ name, entry, port }) {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, entry)], {
    cwd: root,
    env: { ...process.env, PORT: port },
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
      if (entry.msg === "gRPC server listening") resolve(`localhost:${entry.port}`);
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with code ${code} before it was listening`)));
  });
}

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: root, stdio: "inherit" });
    child.once("exit", (code) => resolve(code ?? 1));
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
  const [userService] = await Promise.all(services.map(startService));
  console.log(`\nRunning the client demo against UserService at ${userService}\n`);
  const demo = await run([join(root, "apps/client/src/cli.ts"), "demo", "--target", userService]);
  if (exitAfterDemo || demo !== 0) {
    await stopAll();
    process.exit(demo);
  }
  console.log(`
polyrpc is running:
  UserService (gRPC, plaintext)  ${userService}    data: ./data/user-service.db

Try:
  pnpm --filter @polyrpc/client cli list --target ${userService}
  grpcurl -plaintext ${userService} list

Ctrl-C stops everything.`);
} catch (err) {
  console.error(String(err));
  await stopAll();
  process.exit(1);
}
