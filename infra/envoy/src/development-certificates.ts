import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createTestCertificates } from "@polyrpc/testing";
import type { TlsFiles } from "./tls-directory.js";

/**
 * A development CA and a server certificate for localhost and 127.0.0.1, made with openssl into
 * `dir` (`ca.crt`, `server.crt`, `server.key`) each time the local stack starts; never committed,
 * never for production.
 */
export function createDevelopmentCertificates(dir: string): TlsFiles {
  const generated = createTestCertificates();
  try {
    mkdirSync(dir, { recursive: true });
    const files = { ca: join(dir, "ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key") };
    copyFileSync(generated.caCert, files.ca);
    copyFileSync(generated.serverCert, files.cert);
    copyFileSync(generated.serverKey, files.key);
    return files;
  } finally {
    generated.remove();
  }
}
