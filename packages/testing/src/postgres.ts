import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A real PostgreSQL server on loopback, in a temporary data directory, for tests. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** Creates an empty database and returns its URL; names must be plain identifiers. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL through psql against `database` (default `postgres`) and returns its unaligned output. */
  sql(query: string, database?: string): Promise<string>;
  /** Stops the server (fast shutdown, clients are disconnected); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory, after `stop`. */
  start(): Promise<void>;
  /** Stops the server and removes its data directory (unless it was given one to keep). */
  destroy(): Promise<void>;
}

/** The directory holding initdb and postgres: $PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin. */
function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error("PostgreSQL is not installed: no /usr/lib/postgresql/N/bin (apt-get install postgresql)");
  }
  return join(root, versions[0]!, "bin");
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * PostgreSQL refuses to run as root; as root the server runs as the `postgres` system user that
 * Debian's package creates, and owns its temporary directory.
 */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
  const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
  return { uid, gid };
}

/** Where and how `startLocalPostgres` runs its server. */
export interface LocalPostgresOptions {
  /**
   * A directory that keeps the cluster between runs (created and initialised when missing; left
   * in place by `destroy`). Without it, a fresh temporary directory that `destroy` removes.
   */
  dir?: string;
  /** The loopback port; a free one when omitted or 0. */
  port?: number;
  /**
   * Durable as in production (fsync, synchronous commit, full page writes), for tests of what an
   * acknowledged write survives; off by default, for speed.
   */
  durable?: boolean;
  /**
   * Further addresses of this machine to listen on besides 127.0.0.1 (a bridge that containers
   * reach it through), and the networks allowed to connect there, with trust auth.
   */
  listen?: { addresses: readonly string[]; clients: readonly string[] };
}

/**
 * Starts a PostgreSQL server for tests: initdb into a fresh temporary directory (trust auth,
 * durability off for speed), listening on 127.0.0.1 only, on a free port.
 */
export function startTestPostgres(): Promise<TestPostgres> {
  return startLocalPostgres();
}

/**
 * Starts a PostgreSQL server on 127.0.0.1 only, trust auth for the `postgres` user, durability off
 * unless `options.durable` (a development and test server, never a production one): in
 * `options.dir` kept across runs, or in a temporary directory.
 */
export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<TestPostgres> {
  const bin = binDir();
  const user = await runAs();
  const keep = options.dir !== undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "polyrpc-pg-"));
  mkdirSync(dirname(dir), { recursive: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  if (!existsSync(join(data, "PG_VERSION"))) {
    try {
      await run(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], {
        ...user,
        cwd: dir,
      });
    } catch (err) {
      const who = user ? " (as root, PostgreSQL runs as the postgres user, which must be able to reach it)" : "";
      throw new Error(`initdb failed in ${dir}${who}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  }
  if (options.listen) {
    const hba = join(data, "pg_hba.conf");
    const lines = options.listen.clients.map((network) => `host all all ${network} trust`);
    const current = readFileSync(hba, "utf8");
    const missing = lines.filter((line) => !current.includes(line));
    if (missing.length > 0) appendFileSync(hba, `${missing.join("\n")}\n`);
  }
  const port = options.port || (await freePort());
  const base = `postgres://postgres@127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log = "";

  const start = async () => {
    const args = [
      "-D", data, "-p", String(port), "-k", dir,
      "-c", `listen_addresses=${["127.0.0.1", ...(options.listen?.addresses ?? [])].join(",")}`,
      ...(options.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
      "-c", "max_connections=300",
    ]; // prettier-ignore
    const started = spawn(join(bin, "postgres"), args, { ...user, cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    started.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child = started;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`postgres exited with ${started.exitCode}:\n${log}`);
      try {
        await run("pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port)]);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`postgres did not become ready in 30 s:\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const gone = new Promise((resolve) => running.once("exit", resolve));
    // SIGINT is PostgreSQL's fast shutdown: it disconnects clients and exits.
    running.kill("SIGINT");
    const timer = setTimeout(() => running.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  };

  const sql = async (query: string, database = "postgres") =>
    (await run("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", `${base}/${database}`, "-c", query]))
      .stdout;

  await start();
  return {
    url: `${base}/postgres`,
    port,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await sql(`CREATE DATABASE ${name}`);
      return `${base}/${name}`;
    },
    sql,
    stop,
    start,
    async destroy() {
      await stop();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}
