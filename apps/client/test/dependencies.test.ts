import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

/** What a server needs and a client must not pull in. */
const SERVER_SIDE = [
  "@polyrpc/server-kit",
  "@connectrpc/connect-node",
  "pino",
  "pg",
  "better-sqlite3",
  "prom-client",
  "@opentelemetry/api",
  "@opentelemetry/sdk-trace-node",
  "grpc-health-check",
  "@grpc/reflection",
];

interface ListedPackage {
  dependencies?: Record<string, ListedPackage>;
}

/** Every package `@polyrpc/client` installs for production, as pnpm resolves it. */
async function productionDependencies(): Promise<Set<string>> {
  const pnpm = process.env.npm_execpath;
  const [command, args] = pnpm?.endsWith(".cjs") || pnpm?.endsWith(".js") ? [process.execPath, [pnpm]] : ["pnpm", []];
  const { stdout } = await promisify(execFile)(command, [...args, "list", "--prod", "--json", "--depth", "Infinity"], {
    cwd: `${import.meta.dirname}/..`,
    maxBuffer: 64 * 1024 * 1024,
  });
  const names = new Set<string>();
  const walk = (deps: Record<string, ListedPackage> | undefined) => {
    for (const [name, pkg] of Object.entries(deps ?? {})) {
      if (names.has(name)) continue;
      names.add(name);
      walk(pkg.dependencies);
    }
  };
  walk((JSON.parse(stdout) as ListedPackage[])[0]?.dependencies);
  return names;
}

describe("@polyrpc/client's dependencies", () => {
  it("pull in the typed grpc-js client and nothing server-side", async () => {
    const names = await productionDependencies();
    expect(names).toContain("@polyrpc/grpc-client");
    expect(names).toContain("@grpc/grpc-js");
    expect(SERVER_SIDE.filter((name) => names.has(name))).toEqual([]);
  });
});
