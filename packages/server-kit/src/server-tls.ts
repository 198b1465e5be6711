import { readFileSync } from "node:fs";
import { ConfigError, type ServerEnv } from "./config.js";

/** A server's TLS material, read from the files the configuration names. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  clientCa?: Buffer;
}

/**
 * TLS on the app port, for running without a sidecar: none unless TLS_CERT_FILE and TLS_KEY_FILE
 * are set; TLS_CLIENT_CA_FILE adds client-certificate verification. Throws ConfigError for a
 * half-configured or unreadable setup, so a server never silently starts in plaintext.
 */
export function serverTls(
  env: Pick<ServerEnv, "TLS_CERT_FILE" | "TLS_KEY_FILE" | "TLS_CLIENT_CA_FILE">,
): ServerTls | undefined {
  const { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_CLIENT_CA_FILE: caFile } = env;
  if (!certFile && !keyFile && !caFile) return undefined;
  const problems: string[] = [];
  if (!certFile) problems.push("TLS_CERT_FILE: required when TLS_KEY_FILE or TLS_CLIENT_CA_FILE is set");
  if (!keyFile) problems.push("TLS_KEY_FILE: required when TLS_CERT_FILE or TLS_CLIENT_CA_FILE is set");
  const read = (name: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      problems.push(`${name}: cannot read ${file} (${(err as Error).message})`);
      return undefined;
    }
  };
  const cert = read("TLS_CERT_FILE", certFile);
  const key = read("TLS_KEY_FILE", keyFile);
  const clientCa = read("TLS_CLIENT_CA_FILE", caFile);
  if (problems.length > 0 || !cert || !key) throw new ConfigError(problems);
  return clientCa ? { cert, key, clientCa } : { cert, key };
}
