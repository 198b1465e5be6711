import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestCertificates } from "@polyrpc/testing";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  chartDir,
  localValuesFile,
  renderEnvoyConfigMaps,
  validateEnvoyConfig,
  writeEnvoyFiles,
  writeTlsDirectory,
} from "../src/index.js";

interface ValueSet {
  name: string;
  valuesFiles: string[];
  values?: Record<string, unknown>;
}

/** Every value set of the chart: the defaults, each ci/*.yaml (globbed now), and the local values. */
function valueSets(): ValueSet[] {
  const ciDir = join(chartDir, "ci");
  const ci = existsSync(ciDir)
    ? readdirSync(ciDir)
        .filter((file) => file.endsWith(".yaml"))
        .sort()
        .map((file) => ({ name: `ci/${file}`, valuesFiles: [join(ciDir, file)] }))
    : [];
  return [
    { name: "the default values", valuesFiles: [] },
    ...ci,
    { name: "infra/envoy/local-values.yaml", valuesFiles: [localValuesFile] },
    { name: "least_request balancing", valuesFiles: [], values: { loadBalancing: { policy: "LEAST_REQUEST" } } },
    { name: "headless mode", valuesFiles: [], values: { loadBalancing: { mode: "headless" } } },
  ];
}

// Envoy's configuration as plain JSON, for reading a few fields.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function routesOf(listener: Json): Json[] {
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  return hcm.route_config.virtual_hosts.flatMap((vh: Json) => vh.routes);
}

const scratch = mkdtempSync(join(tmpdir(), "polyrpc-envoy-validate-"));
const certs = createTestCertificates();
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  certs.remove();
});

describe("the chart's Envoy configuration (D4)", () => {
  // Validation opens the SDS files and the certificates they name, so the two directories the pod
  // mounts (envoy.configMountPath and envoy.tls.directory) point into a scratch directory holding
  // the rendered files and a test certificate; every other value is the set's own.
  it.each(valueSets())("passes envoy --mode validate with $name", async ({ name, valuesFiles, values }) => {
    const setDir = join(scratch, name.replace(/[^a-z0-9]+/gi, "-"));
    const tlsDir = join(setDir, "tls");
    writeTlsDirectory(tlsDir, { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert });
    for (const app of ["user-service", "chat"] as const) {
      const dir = join(setDir, app);
      const mounts = { envoy: { configMountPath: dir, tls: { directory: tlsDir } } };
      const maps = await renderEnvoyConfigMaps({ valuesFiles: [...valuesFiles], values: { ...values, ...mounts } });
      const output = await validateEnvoyConfig(writeEnvoyFiles(dir, maps[app]));
      expect(output, `${name}, ${app}`).toMatch(/configuration .* OK/);
    }
  });

  it("terminates TLS 1.2+ with ECDHE+AEAD suites and never times out a route", async () => {
    const maps = await renderEnvoyConfigMaps();
    for (const app of ["user-service", "chat"] as const) {
      const config: Json = parse(maps[app]["envoy.yaml"]!);
      const inbound = config.static_resources.listeners.find((l: Json) => l.name === "inbound_tls");
      const tls = inbound.filter_chains[0].transport_socket.typed_config.common_tls_context;
      expect(tls.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
      expect(tls.tls_params.tls_maximum_protocol_version).toBe("TLSv1_3");
      for (const suite of tls.tls_params.cipher_suites) expect(suite).toMatch(/^ECDHE-.*(GCM|CHACHA20-POLY1305)/);
      expect(tls.alpn_protocols).toEqual(app === "chat" ? ["h2", "http/1.1"] : ["h2"]);
      expect(tls.tls_certificate_sds_secret_configs[0].sds_config.path_config_source.watched_directory.path).toBe(
        "/etc/envoy/tls",
      );
      expect(inbound.address.socket_address.port_value).toBe(8443);
      expect(config.admin.address.socket_address).toEqual({ address: "127.0.0.1", port_value: 9901 });
      for (const listener of config.static_resources.listeners) {
        for (const route of routesOf(listener)) expect(route.route.timeout).toBe("0s");
      }
    }
  });

  it("retries only GetUser and ListUsers, and balances the chat's calls only in sidecar mode", async () => {
    const sidecar: Json = parse((await renderEnvoyConfigMaps())["chat"]["envoy.yaml"]!);
    const outbound = sidecar.static_resources.listeners.find((l: Json) => l.name === "outbound_user_service");
    expect(outbound.address.socket_address).toEqual({ address: "127.0.0.1", port_value: 15001 });
    const retried = routesOf(outbound)
      .filter((route: Json) => route.route.retry_policy)
      .map((route: Json) => route.match.path);
    expect(retried).toEqual(["/user.UserService/GetUser", "/user.UserService/ListUsers"]);
    const cluster = sidecar.static_resources.clusters.find((c: Json) => c.name === "user_service");
    expect(cluster.type).toBe("STRICT_DNS");
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
      address: "polyrpc-user-service-headless.default.svc.cluster.local",
      port_value: 8443,
    });
    expect(cluster.health_checks[0].grpc_health_check.service_name).toBe("user.UserService");
    expect(cluster.outlier_detection).toBeDefined();

    const headless: Json = parse(
      (await renderEnvoyConfigMaps({ values: { loadBalancing: { mode: "headless" } } }))["chat"]["envoy.yaml"]!,
    );
    expect(headless.static_resources.listeners.map((l: Json) => l.name)).toEqual(["inbound_tls"]);
    expect(headless.static_resources.clusters.map((c: Json) => c.name)).toEqual(["local_app"]);
  });
});
