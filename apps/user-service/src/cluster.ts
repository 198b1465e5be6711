import cluster, { type Worker } from "node:cluster";
import { createLogger, exitOnSignals } from "@polyrpc/server-kit";
import { createMetricsRegistry, startMetricsServer, type MetricsServerHandle } from "@polyrpc/server-kit/observability";
import { AggregatorRegistry, Counter, Registry } from "prom-client";
import type { UserServiceConfig } from "./config.js";
import { openUserStore, startUserService, type RunningUserService } from "./server.js";

/**
 * Multi-worker mode (WORKERS > 1), on node:cluster. The primary migrates the store once, forks
 * WORKERS workers that each run the normal server on the shared port (cluster hands each new
 * connection to the next worker), serves every worker's metrics summed on METRICS_PORT, restarts
 * a worker that dies, and on SIGTERM/SIGINT has every worker drain as a single process does.
 */

/** What the workers' "gRPC server listening" line says instead: only the primary announces the port. */
const WORKER_LISTENING = "worker listening";
const LISTENING = "gRPC server listening";

/** Messages between the primary and its workers. */
type WorkerMessage =
  { type: "user-service:ready"; port: number } | { type: "user-service:metrics"; id: number; metrics: object[] };
type PrimaryMessage = { type: "user-service:metrics-request"; id: number };

/** A worker that dies is restarted after 250 ms, then 0.5, 1, 2, 4 s while it keeps dying... */
const RESTART_BACKOFF_MS = [250, 500, 1000, 2000, 4000];
/** ...and a sixth death within a minute of its first ends the whole service, with exit code 1. */
const RESTART_WINDOW_MS = 60_000;
/** The primary waits the workers' SHUTDOWN_TIMEOUT_MS and this much more, then kills them. */
const SHUTDOWN_MARGIN_MS = 5000;
/** A scrape fails when a worker does not send its metrics within this long. */
const METRICS_TIMEOUT_MS = 3000;

/** One of the WORKERS places: its worker of the moment and its recent deaths. */
interface Slot {
  worker?: Worker;
  ready: boolean;
  deaths: number[];
}

/**
 * Runs the primary: migrates the store, serves the aggregated metrics, forks `config.WORKERS`
 * workers and resolves once every one is listening (logged once as "gRPC server listening" with
 * the port and `workers`). It then supervises them until a signal, and exits the process when
 * they have all stopped: 0, or 1 when one failed or had to be killed.
 */
export async function startPrimary(config: Readonly<UserServiceConfig>): Promise<void> {
  const log = createLogger({ name: "user-service", level: config.LOG_LEVEL }).child({
    role: "primary",
    pid: process.pid,
  });
  // Migrate once, before any worker opens the store: N workers migrating one SQLite file at once
  // would race (PostgreSQL's migrations take an advisory lock, but once is enough there too).
  const store = await openUserStore(config, log);
  await store.close();
  log.info({ workers: config.WORKERS }, "store migrated; starting workers");

  const own = createMetricsRegistry({ processMetrics: false });
  const restarts = new Counter({
    name: "user_service_worker_restarts_total",
    help: "Workers the primary restarted after they died.",
    registers: [own],
  });
  const slots: Slot[] = Array.from({ length: config.WORKERS }, () => ({ ready: false, deaths: [] }));
  let metrics: MetricsServerHandle | undefined;
  if (config.METRICS_ENABLED) {
    const registry = clusterRegistry(slots, own);
    metrics = await startMetricsServer({ host: config.HOST, port: config.METRICS_PORT, registry, log });
  }

  let started = false;
  let stopping: NodeJS.Signals | undefined;
  let exitCode = 0;
  let killer: NodeJS.Timeout | undefined;
  const live = () => slots.flatMap((s) => (s.worker ? [s.worker] : []));
  // Resolves once every worker listens; when one fails to start, the process exits 1 instead.
  let resolveStarted: () => void = () => {};
  const whenStarted = new Promise<void>((resolve) => (resolveStarted = resolve));

  const finish = () => {
    if (killer) clearTimeout(killer);
    void (metrics?.close() ?? Promise.resolve()).finally(() => {
      log.info({ exitCode }, "all workers stopped");
      log.flush(() => process.exit(exitCode));
    });
  };

  /** Stops every worker with `signal` (each drains as a single process does) and exits when all are gone. */
  const shutdown = (signal: NodeJS.Signals, code: number) => {
    stopping = signal;
    exitCode = Math.max(exitCode, code);
    const workers = live();
    log.info({ signal, workers: workers.length }, "stopping workers");
    for (const worker of workers) worker.process.kill(signal);
    if (workers.length === 0) return finish();
    killer = setTimeout(() => {
      log.error(
        { workers: live().map((w) => w.process.pid) },
        "workers still running at the shutdown timeout: killing them",
      );
      exitCode = 1;
      for (const worker of live()) worker.process.kill("SIGKILL");
    }, config.SHUTDOWN_TIMEOUT_MS + SHUTDOWN_MARGIN_MS);
  };

  const fork = (slot: Slot) => {
    const worker = cluster.fork();
    slot.worker = worker;
    const pid = worker.process.pid;
    worker.on("message", (message: WorkerMessage) => {
      if (message?.type !== "user-service:ready" || stopping) return;
      slot.ready = true;
      if (started) {
        log.info({ worker: worker.id, pid, port: message.port }, "worker restarted");
      } else if (slots.every((s) => s.ready)) {
        started = true;
        const pids = slots.map((s) => s.worker?.process.pid);
        log.info({ host: config.HOST, port: message.port, workers: slots.length, pids }, LISTENING);
        resolveStarted();
      }
    });
    worker.on("exit", (code, signal) => {
      slot.worker = undefined;
      slot.ready = false;
      const exit = { worker: worker.id, pid, code, signal };
      if (stopping) {
        // Dying of the signal it was sent (before it could handle it) counts as stopping cleanly.
        const clean = code === 0 || signal === stopping;
        if (!clean) exitCode = 1;
        log[clean ? "info" : "error"](exit, clean ? "worker stopped" : "worker failed while stopping");
        if (live().length === 0) finish();
        return;
      }
      if (!started) {
        log.error(exit, "worker exited while starting: stopping");
        return shutdown("SIGTERM", 1);
      }
      const now = Date.now();
      slot.deaths = [...slot.deaths.filter((t) => now - t < RESTART_WINDOW_MS), now];
      if (slot.deaths.length > RESTART_BACKOFF_MS.length) {
        log.error({ ...exit, deaths: slot.deaths.length }, "worker keeps dying: stopping the service");
        return shutdown("SIGTERM", 1);
      }
      const delayMs = RESTART_BACKOFF_MS[slot.deaths.length - 1]!;
      log.error({ ...exit, restartInMs: delayMs }, "worker exited unexpectedly: restarting it");
      restarts.inc();
      // A restart still waiting when the service stops is dropped.
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, delayMs);
    });
  };

  // The exit is finish's (every worker gone), whatever started the shutdown.
  exitOnSignals(
    (signal) => {
      if (!stopping) shutdown(signal, 0);
      return new Promise<never>(() => {});
    },
    log,
    { beforeForcedExit: () => live().forEach((worker) => worker.process.kill("SIGKILL")) },
  );

  for (const slot of slots) fork(slot);
  await whenStarted;
}

/**
 * A registry whose exposition is every ready worker's metrics, summed by prom-client's
 * AggregatorRegistry (counters and histograms add up; its default process metrics say how), plus
 * the primary's own. A scrape fails (500) rather than show partial sums when a worker does not answer.
 */
function clusterRegistry(slots: readonly Slot[], own: Registry): Registry {
  let requests = 0;
  class ClusterRegistry extends Registry {
    override async metrics(): Promise<string> {
      const id = ++requests;
      const workers = slots.flatMap((s) => (s.worker && s.ready && s.worker.isConnected() ? [s.worker] : []));
      const all = await Promise.all([...workers.map((w) => ask(w, id)), own.getMetricsAsJSON()]);
      return AggregatorRegistry.aggregate(all).metrics();
    }
  }
  const ask = (worker: Worker, id: number) =>
    new Promise<object[]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
      };
      const onMessage = (message: WorkerMessage) => {
        if (message?.type === "user-service:metrics" && message.id === id) {
          done();
          resolve(message.metrics);
        }
      };
      const onExit = () => {
        done();
        reject(new Error(`worker ${worker.id} exited during the scrape`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`worker ${worker.id} did not send its metrics within ${METRICS_TIMEOUT_MS} ms`));
      }, METRICS_TIMEOUT_MS);
      worker.on("message", onMessage);
      worker.on("exit", onExit);
      worker.send({ type: "user-service:metrics-request", id } satisfies PrimaryMessage);
    });
  return new ClusterRegistry();
}

/**
 * Runs a worker: the normal server on the shared port, its log lines marked with `worker` and
 * `pid`, its call metrics sent to the primary on request. It drains on SIGTERM or SIGINT (however
 * many arrive: the primary forwards the signal a terminal may also have sent it), then exits 0
 * (1 when stopping failed). If the primary dies, node:cluster exits the worker at once.
 */
export async function startWorker(config: Readonly<UserServiceConfig>): Promise<RunningUserService> {
  const id = cluster.worker!.id;
  // Every line carries `worker` (its cluster id, new for each restart) and `pid`.
  const log = createLogger({ name: "user-service", level: config.LOG_LEVEL }).child({
    role: "worker",
    worker: id,
    pid: process.pid,
  });
  let service: RunningUserService | undefined;
  // Before the server is up there is nothing to drain.
  exitOnSignals(() => service?.stop() ?? Promise.resolve(), log, { again: "ignore" });

  const registry = config.METRICS_ENABLED ? createMetricsRegistry() : undefined;
  // Only the primary's line names the shared port, once every worker listens: tools that read the
  // port from "gRPC server listening" see one line.
  service = await startUserService(config, {
    log,
    listeningMessage: WORKER_LISTENING,
    ...(registry && { metricsRegistry: registry }),
  });
  process.on("message", (message: PrimaryMessage) => {
    if (message?.type !== "user-service:metrics-request") return;
    // Unanswered, the scrape fails at the primary's timeout.
    (registry?.getMetricsAsJSON() ?? Promise.resolve([])).then(
      (metrics) => process.send?.({ type: "user-service:metrics", id: message.id, metrics } satisfies WorkerMessage),
      (err: unknown) => log.error({ err }, "metrics collection failed"),
    );
  });
  process.send?.({ type: "user-service:ready", port: service.server.port } satisfies WorkerMessage);
  return service;
}
