import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** A task turbo ran (its run summary's `tasks`, with `TURBO_RUN_SUMMARY=true` or `--summarize`). */
export interface TurboTask {
  taskId: string;
  package: string;
  task: string;
  /** Absent when turbo never started it. */
  exitCode: number | null;
}

/** Every task of every turbo run summary in `dir` (turbo writes them to .turbo/runs). */
export function readTurboTasks(dir: string): TurboTask[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .flatMap((file) => {
      const summary = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
        tasks?: { taskId: string; package: string; task: string; execution?: { exitCode?: number } }[];
      };
      return (summary.tasks ?? []).map((task) => ({
        taskId: task.taskId,
        package: task.package,
        task: task.task,
        exitCode: task.execution?.exitCode ?? null,
      }));
    });
}
