import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { listeningPort, startServiceProcess, type ServiceProcess } from "@polyrpc/testing";
import type { Runtime } from "./user-service-on.js";

const CHILD = fileURLToPath(new URL("./user-service-child.ts", import.meta.url));

/** A process's resident memory as the kernel counts it, in MiB. */
export interface ProcessMemory {
  /** Resident now (VmRSS). */
  rss: number;
  /** The most it was resident since it started or since `resetPeak` (VmHWM). */
  peak: number;
}

/** A UserService server on `runtime` in a child process (user-service-child.ts). */
export interface UserServiceProcess extends ServiceProcess {
  /** Its memory now, from /proc/<pid>/status. */
  memory(): ProcessMemory;
  /**
   * Sets its high-water mark (VmHWM) back to what is resident now (`5` into /proc/<pid>/clear_refs),
   * so `memory().peak` afterwards is the peak of what came after, not of start-up.
   */
  resetPeak(): void;
}

/** Reads VmRSS and VmHWM from /proc/<pid>/status: another process's memory. */
export function memoryOf(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}:\n${status}`);
    return Number(match[1]) / 1024;
  };
  return { rss: mib("VmRSS"), peak: mib("VmHWM") };
}

/** Starts the child server with `env` (server variables, as startUserServiceOn takes them). */
export async function startUserServiceProcess(
  runtime: Runtime,
  env: Record<string, string> = {},
): Promise<UserServiceProcess> {
  const service = await startServiceProcess({
    name: `${runtime} user service process`,
    command: process.execPath,
    args: ["--conditions=polyrpc-source", "--import", "tsx", CHILD, runtime, JSON.stringify(env)],
    cwd: fileURLToPath(new URL(".", import.meta.url)),
    portOf: listeningPort,
  });
  const pid = service.child.pid!;
  return {
    ...service,
    memory: () => memoryOf(pid),
    resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, "5"),
  };
}
