import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A small tmpfs mounted for a test: a real file system that runs out of space. */
export interface TestTmpfs {
  /** Where it is mounted. */
  path: string;
  /** Bytes still free. */
  freeBytes(): number;
  /** Writes a filler file so that about `bytes` stay free. */
  leaveFree(bytes: number): void;
  /** Removes the filler file, giving its space back. */
  removeFiller(): void;
  /** Unmounts it and removes the mount point. */
  destroy(): void;
}

/**
 * Mounts a tmpfs of `sizeBytes` (needs root, as CI runs; fails with the mount error otherwise:
 * a full-disk test that cannot make its disk must not pass).
 */
export function mountTestTmpfs(sizeBytes: number): TestTmpfs {
  const path = mkdtempSync(join(tmpdir(), "polyrpc-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0777`, "tmpfs", path], { stdio: "pipe" });
  } catch (err) {
    rmSync(path, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount a ${sizeBytes}-byte tmpfs (root is needed): ${stderr ?? String(err)}`);
  }
  const filler = join(path, "filler");
  const freeBytes = () => {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  };
  return {
    path,
    freeBytes,
    leaveFree(bytes) {
      rmSync(filler, { force: true });
      const size = freeBytes() - bytes;
      if (size > 0) writeFileSync(filler, Buffer.alloc(size));
    },
    removeFiller: () => rmSync(filler, { force: true }),
    destroy() {
      execFileSync("umount", ["-l", path], { stdio: "pipe" });
      rmSync(path, { recursive: true, force: true });
    },
  };
}
