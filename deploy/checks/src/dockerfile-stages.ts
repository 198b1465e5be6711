import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, matchesGlob, posix } from "node:path";
import { repoRoot } from "./tools.js";

/** One instruction of a Dockerfile, continuation lines joined. */
export interface Instruction {
  keyword: string;
  args: string;
}

/** A Dockerfile's instructions, without comments and parser directives. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    pending += (pending ? " " : "") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) continue;
    const [keyword, ...rest] = pending.split(/\s+/);
    instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(" ") });
    pending = "";
  }
  return instructions;
}

/** `KEY=value KEY2=value2` (values unquoted or double-quoted). */
function parsePairs(args: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) {
    pairs[match[1]!] = match[3] ?? match[2]!;
  }
  return pairs;
}

/** The files of the build context (the repository root) that `.dockerignore` lets in. */
function contextFiles(): string[] {
  const ignore = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const listed = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
    cwd: repoRoot,
    encoding: "utf8",
  }).stdout.split("\0");
  const ignored = (file: string) =>
    ignore.some((pattern) => {
      const parts = file.split("/");
      // A pattern names a path or any of its parent folders.
      return parts.some((_, i) => matchesGlob(parts.slice(0, i + 1).join("/"), pattern));
    });
  return listed.filter((file) => file !== "" && !ignored(file));
}

/** How a stage's steps ran, and how to start what its ENTRYPOINT says. */
export interface StagesRun {
  /** The final stage's file system, as a folder on this machine. */
  root: string;
  /** The final stage's WORKDIR, inside `root`. */
  workdir: string;
  /** The final stage's environment (ENV). */
  env: Record<string, string>;
  entrypoint: string[];
  /** Starts the ENTRYPOINT (with `args`) in the final stage's WORKDIR and environment, plus `env`. */
  start(args: readonly string[], env: Record<string, string>): ChildProcess;
}

/**
 * Runs a Dockerfile's stages on this machine without a container: each stage is a folder standing
 * for its file system, its WORKDIR, COPY (from the build context or `--from` a stage) and ENV
 * apply there, and its RUN steps run with bash in it. The base image is this machine: the same
 * Node (the project's pinned one, first on PATH; the image's /usr/local is its installation), and
 * the Debian packages that setup installs, so `apt-get` steps are skipped. What the image's own
 * build would install is installed, and what it runs is what runs here: a missing run-time
 * dependency fails the same way.
 */
export function runDockerfileStages(dockerfile: string, workDir: string, log: (line: string) => void): StagesRun {
  const instructions = parseDockerfile(readFileSync(dockerfile, "utf8"));
  const nodePrefix = dirname(dirname(process.execPath));
  const inStage = (root: string, path: string) => join(root, path.replace(/^\/usr\/local(?=\/|$)/, nodePrefix));
  const stages = new Map<string, string>();
  let root = "";
  let workdir = "/";
  let env: Record<string, string> = {};
  let entrypoint: string[] = [];
  let context: string[] | undefined;

  for (const { keyword, args } of instructions) {
    switch (keyword) {
      case "ARG":
        break;
      case "FROM": {
        const name = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? String(stages.size);
        root = join(workDir, name);
        mkdirSync(root, { recursive: true });
        stages.set(name, root);
        workdir = "/";
        env = {};
        break;
      }
      case "WORKDIR":
        workdir = posix.resolve(workdir, args);
        mkdirSync(join(root, workdir), { recursive: true });
        break;
      case "ENV":
        Object.assign(env, parsePairs(args));
        break;
      case "COPY": {
        const words = args.split(/\s+/);
        const from = words[0]!.startsWith("--from=") ? words.shift()!.slice("--from=".length) : undefined;
        const rawDest = words.pop()!;
        const dest = posix.resolve(workdir, rawDest);
        const intoFolder = rawDest.endsWith("/") || rawDest === "." || words.length > 1;
        for (const source of words) {
          if (from !== undefined) {
            const sourceRoot = stages.get(from);
            if (!sourceRoot) throw new Error(`COPY --from=${from}: no such stage`);
            cpSync(join(sourceRoot, source), join(root, dest), { recursive: true });
          } else if (source === ".") {
            context ??= contextFiles();
            for (const file of context) cpSync(join(repoRoot, file), join(root, dest, file), { recursive: true });
          } else {
            const target = join(root, intoFolder ? posix.join(dest, posix.basename(source)) : dest);
            mkdirSync(dirname(target), { recursive: true });
            cpSync(join(repoRoot, source), target, { recursive: true });
          }
        }
        break;
      }
      case "RUN": {
        if (/^apt-get\b/.test(args)) {
          log(`skip (this machine's packages): RUN ${args}`);
          break;
        }
        log(`RUN ${args}`);
        const stageEnv = Object.fromEntries(
          Object.entries(env).map(([k, v]) => [k, v.replace(/^\/usr\/local(?=\/|$)/, nodePrefix)]),
        );
        const result = spawnSync("bash", ["-euo", "pipefail", "-c", args], {
          cwd: inStage(root, workdir),
          env: { ...process.env, ...stageEnv, PATH: `${dirname(process.execPath)}:${process.env.PATH}` },
          encoding: "utf8",
          maxBuffer: 256 * 1024 * 1024,
        });
        if (result.status !== 0) {
          throw new Error(
            `RUN ${args} failed (${result.status}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`,
          );
        }
        break;
      }
      case "ENTRYPOINT":
        entrypoint = JSON.parse(args) as string[];
        break;
      case "USER":
      case "EXPOSE":
        break;
      default:
        throw new Error(`unsupported Dockerfile instruction ${keyword}`);
    }
  }
  const finalRoot = root;
  const finalWorkdir = inStage(root, workdir);
  const finalEnv = env;
  return {
    root: finalRoot,
    workdir: finalWorkdir,
    env: finalEnv,
    entrypoint,
    start(args, extraEnv) {
      const [command, ...rest] = entrypoint;
      const executable = command === "node" ? process.execPath : command!;
      // Only what the image has: its ENV and the caller's, not this test process's NODE_OPTIONS.
      const { NODE_OPTIONS: _, ...baseEnv } = process.env;
      return spawn(executable, [...rest, ...args], {
        cwd: finalWorkdir,
        env: { ...baseEnv, ...finalEnv, ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
      });
    },
  };
}
