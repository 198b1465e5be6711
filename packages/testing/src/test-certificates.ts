import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Files of a throwaway PKI made for one test run: never committed, never for production. */
export interface TestCertificates {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA, and a client certificate it signed, that the server does not trust. */
  otherCaCert: string;
  otherClientCert: string;
  otherClientKey: string;
  read(path: string): Buffer;
  remove(): void;
}

function openssl(dir: string, args: string[]) {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function issue(dir: string, name: string, ca: string, subject: string, extensions: string) {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    `${name}.crt`,
    "-extfile",
    `${name}.ext`,
  ]);
}

function authority(dir: string, name: string) {
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  ]);
}

/**
 * Generates, with the openssl command-line tool, a CA, a server certificate for localhost and
 * 127.0.0.1 (and `serverDnsNames`, e.g. a cluster's Service names), a client certificate (for
 * mTLS), and a second CA with its own client certificate (for "another CA is refused").
 */
export function createTestCertificates(options: { serverDnsNames?: readonly string[] } = {}): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "polyrpc-pki-"));
  authority(dir, "ca");
  authority(dir, "other-ca");
  issue(
    dir,
    "server",
    "ca",
    "/CN=localhost",
    `subjectAltName=${["DNS:localhost", "IP:127.0.0.1", ...(options.serverDnsNames ?? []).map((n) => `DNS:${n}`)].join(",")}\nextendedKeyUsage=serverAuth\n`,
  );
  issue(dir, "client", "ca", "/CN=polyrpc-test-client", "extendedKeyUsage=clientAuth\n");
  issue(dir, "other-client", "other-ca", "/CN=stranger", "extendedKeyUsage=clientAuth\n");
  const path = (file: string) => join(dir, file);
  return {
    dir,
    caCert: path("ca.crt"),
    serverCert: path("server.crt"),
    serverKey: path("server.key"),
    clientCert: path("client.crt"),
    clientKey: path("client.key"),
    otherCaCert: path("other-ca.crt"),
    otherClientCert: path("other-client.crt"),
    otherClientKey: path("other-client.key"),
    read: (file) => readFileSync(file),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
