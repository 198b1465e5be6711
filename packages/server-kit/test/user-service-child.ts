/**
 * A UserService server in a process of its own, for tests that measure the server from outside
 * (its resident memory, which the test process's own allocations would blur in-process):
 * `node --conditions=polyrpc-source --import tsx user-service-child.ts <runtime> [env as JSON]`.
 * Prints `{"listening":<port>}` once bound, and drains and exits on SIGTERM.
 */
import { exitOnSignals } from "../src/shutdown.js";
import { createLogger } from "../src/logger.js";
import { RUNTIMES, startUserServiceOn, type Runtime } from "./user-service-on.js";

const [runtime, envJson = "{}"] = process.argv.slice(2);
if (!RUNTIMES.includes(runtime as Runtime)) throw new Error(`runtime must be one of ${RUNTIMES.join(", ")}`);

/** Handlers that answer from the request alone: what is measured is the server, not the service. */
const impl = {
  async getUser(req: { id: string }) {
    return { id: req.id };
  },
  async createUser(req: { username: string }) {
    return { username: req.username.slice(0, 8) };
  },
};

const server = await startUserServiceOn(runtime as Runtime, impl, {
  env: JSON.parse(envJson) as Record<string, string>,
});
process.stdout.write(`${JSON.stringify({ listening: Number(server.address.split(":")[1]) })}\n`);
exitOnSignals(() => server.stop(), createLogger({ name: "user-service-child", level: "warn" }));
