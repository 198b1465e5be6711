import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createTestCertificates } from "@polyrpc/server-kit/testing";
import { repoRoot } from "./paths.js";
import { startPolyrpc, type RunningTarget, type TargetDef } from "./targets.js";

const envoyPackage = join(repoRoot, "infra/envoy");
const envoyEntry = join(envoyPackage, "src/index.ts");

/** What the bench uses of infra/envoy (`@polyrpc/envoy-e2e`), loaded at run time when it is there. */
interface EnvoyHelpers {
  localValuesFile: string;
  renderEnvoyConfigMaps(options: {
    valuesFiles?: readonly string[];
    values?: Record<string, unknown>;
  }): Promise<Record<"user-service" | "chat", Record<string, string>>>;
  writeEnvoyFiles(dir: string, files: Record<string, string>): string;
  writeTlsDirectory(dir: string, files: { cert: string; key: string; ca: string }): void;
  freePort(): Promise<number>;
  startEnvoy(options: { configPath: string; adminPort: number }): Promise<{
    child: { pid?: number };
    waitForHealthy(cluster: string, timeoutMs?: number): Promise<void>;
    stop(): Promise<void>;
  }>;
}

/**
 * polyrpc's user service behind the Envoy sidecar with TLS, configured as the Helm chart renders
 * it (infra/envoy renders the chart's ConfigMap with local values and runs the real Envoy).
 */
export const envoyTarget: TargetDef = {
  name: "polyrpc-envoy",
  description: "apps/user-service behind the chart's Envoy sidecar: TLS to Envoy (one worker), plaintext to the app",
  unavailable: () => {
    if (!existsSync(envoyEntry)) return "infra/envoy (the sidecar config and its helper) is not in this tree";
    for (const bin of ["envoy", "helm"]) {
      if (!existsSync(join(repoRoot, ".tools/bin", bin))) return `.tools/bin/${bin} is missing (run scripts/setup.sh)`;
    }
    return undefined;
  },
  streamsListUsers: true,
  async start(ctx): Promise<RunningTarget> {
    // Loaded by path, not declared as a dependency: the bench runs without infra/envoy too.
    const envoy = (await import(pathToFileURL(envoyEntry).href)) as EnvoyHelpers;
    const app = await startPolyrpc(ctx, "polyrpc-behind-envoy");
    const certs = createTestCertificates();
    try {
      const [listenPort, adminPort] = [await envoy.freePort(), await envoy.freePort()];
      const tlsDir = join(ctx.workDir, "envoy-tls");
      envoy.writeTlsDirectory(tlsDir, { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert });
      const configDir = join(ctx.workDir, "envoy-user-service");
      const [, appPort] = app.target.split(":");
      const files = await envoy.renderEnvoyConfigMaps({
        valuesFiles: [envoy.localValuesFile],
        values: {
          envoy: {
            configMountPath: configDir,
            tls: { directory: tlsDir },
            userService: { listenPort, adminPort, endpoints: [{ address: "127.0.0.1", port: Number(appPort) }] },
          },
        },
      });
      const sidecar = await envoy.startEnvoy({
        configPath: envoy.writeEnvoyFiles(configDir, files["user-service"]),
        adminPort,
      });
      await sidecar.waitForHealthy("local_app", 30_000);
      return {
        ...app,
        name: envoyTarget.name,
        target: `127.0.0.1:${listenPort}`,
        pids: [sidecar.child.pid!, ...app.pids],
        caCert: certs.caCert,
        async stop() {
          await sidecar.stop();
          await app.stop();
          certs.remove();
        },
      };
    } catch (err) {
      await app.stop();
      certs.remove();
      throw err;
    }
  },
};
