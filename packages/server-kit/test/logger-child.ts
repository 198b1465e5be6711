/**
 * A process that logs through createLogger's default (stdout) destination, for logger.test.ts:
 * `node --import tsx logger-child.ts <scenario> [lines] [after-input]`. Each numbered line carries `i`.
 */
import fs from "node:fs";
import { exitOnSignals } from "../src/shutdown.js";
import { createLogger } from "../src/logger.js";

// Counts the writes that reach stdout (sonic-boom calls the fs module object's functions).
let writes = 0;
/** The longest the event loop went without a turn while logging ("calls"), in ms. */
let maxGapMs = 0;
for (const name of ["write", "writeSync"] as const) {
  const original = fs[name] as (...args: unknown[]) => unknown;
  (fs as Record<string, unknown>)[name] = (fd: number, ...rest: unknown[]) => {
    if (fd === 1) writes++;
    return original(fd, ...rest);
  };
}

const [scenario, count = "2000", when] = process.argv.slice(2);
const lines = Number(count);
const log = createLogger({ name: "logger-child" });
// After the logger's own exit handler, so that its last writes count.
process.on("exit", () => fs.writeSync(2, `${JSON.stringify({ writes, maxGapMs })}\n`));
const keepAlive = () => setInterval(() => {}, 60_000);
const entry = (i: number) => ({ i, method: "/user.UserService/GetUser", code: "OK", ms: 0.123 });

switch (scenario) {
  case "quiet":
    log.info({ at: Date.now() }, "ready");
    keepAlive();
    break;
  case "exit":
    for (let i = 0; i < lines; i++) log.info(entry(i), "call finished");
    process.exit(0);
    break;
  case "throw":
    for (let i = 0; i < lines; i++) log.info(entry(i), "call finished");
    setImmediate(() => {
      throw new Error("fatal");
    });
    break;
  case "sigterm":
    exitOnSignals(async () => {
      for (let i = 0; i < lines; i++) log.info(entry(i), "call finished");
    }, log);
    log.info("ready");
    keepAlive();
    break;
  case "calls": {
    // One line per turn of the event loop, as a server under load writes them; then exit. With
    // "after-input", only once something arrives on stdin.
    let i = 0;
    let last = 0;
    const next = () => {
      const now = performance.now();
      if (i > 0) maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      log.info(entry(i), "call finished");
      if (++i < lines) setImmediate(next);
      else process.exit(0);
    };
    if (when !== "after-input") next();
    else {
      log.info("ready");
      process.stdin.once("data", next);
    }
    break;
  }
  case "two-loggers": {
    const other = createLogger({ name: "logger-child-2" });
    for (let i = 0; i < lines; i++) (i % 2 ? other : log).info(entry(i), "call finished");
    process.exit(0);
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
