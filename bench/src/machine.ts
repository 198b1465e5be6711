import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { dirname, join } from "node:path";

/** The machine a run happened on. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  go: string;
  python: string;
  ghz: string;
  h2load: string;
  /** 1, 5 and 15 minute load averages when the run started: how busy the machine was. */
  loadAverage: number[];
}

function versionOf(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .trim()
      .split("\n")[0]!;
  } catch {
    return "unavailable";
  }
}

/** ghz built by `go install` reports "dev"; setup.sh's stamp next to it names the pinned module. */
function ghzVersion(ghz: string): string {
  try {
    return readFileSync(join(dirname(ghz), ".ghz.version"), "utf8").trim();
  } catch {
    return `ghz ${versionOf(ghz, ["--version"])}`;
  }
}

/** CPU model, cores, memory, kernel and the versions of every runtime and load generator. */
export function machineInfo(tools: { ghz: string; h2load: string; python: string }): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    go: versionOf("go", ["version"]),
    python: versionOf(tools.python, ["--version"]),
    ghz: ghzVersion(tools.ghz),
    h2load: versionOf(tools.h2load, ["--version"]),
    loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}
