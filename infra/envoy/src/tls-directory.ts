import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, existsSync, readlinkSync } from "node:fs";
import { copyFileSync } from "node:fs";
import { join } from "node:path";

/** PEM files for a sidecar's TLS directory. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

let generation = 0;

/**
 * Puts `tls.crt`, `tls.key` and `ca.crt` into `dir` the way the kubelet updates a mounted Secret:
 * the files live in a fresh timestamped directory, `..data` is swapped to it with one atomic
 * rename, and the visible names are symlinks through `..data`. Envoy's `watched_directory` sees the
 * rename, so calling this again rotates the certificate without a restart.
 */
export function writeTlsDirectory(dir: string, files: TlsFiles): void {
  mkdirSync(dir, { recursive: true });
  const previous = existsSync(join(dir, "..data")) ? readlinkSync(join(dir, "..data")) : undefined;
  const version = `..${Date.now()}_${process.pid}_${generation++}`;
  mkdirSync(join(dir, version));
  copyFileSync(files.cert, join(dir, version, "tls.crt"));
  copyFileSync(files.key, join(dir, version, "tls.key"));
  copyFileSync(files.ca, join(dir, version, "ca.crt"));
  symlinkSync(version, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const name of ["tls.crt", "tls.key", "ca.crt"]) {
    if (!existsSync(join(dir, name))) symlinkSync(join("..data", name), join(dir, name));
  }
  if (previous) rmSync(join(dir, previous), { recursive: true, force: true });
}

/** The certificate currently in a TLS directory, as PEM. */
export function readTlsCertificate(dir: string): string {
  return readFileSync(join(dir, "tls.crt"), "utf8");
}
