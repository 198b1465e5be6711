import { join } from "node:path";
import {
  freePort,
  localValuesFile,
  renderEnvoyConfigMaps,
  startEnvoy,
  toolPath,
  writeEnvoyFiles,
  writeTlsDirectory,
} from "@polyrpc/infra-envoy";
import { createTestCertificates } from "@polyrpc/testing";
import { startPolyrpc, type RunningTarget, type TargetDef } from "./targets.js";

/**
 * polyrpc's user service behind the Envoy sidecar with TLS, configured as the Helm chart renders
 * it (infra/envoy renders the chart's ConfigMap with local values and runs the real Envoy).
 */
export const envoyTarget: TargetDef = {
  name: "polyrpc-envoy",
  description: "apps/user-service behind the chart's Envoy sidecar: TLS to Envoy (one worker), plaintext to the app",
  unavailable: () => {
    // infra/envoy runs the binaries scripts/setup.sh installs; its toolPath says which is missing.
    for (const tool of ["envoy", "helm"] as const) {
      try {
        toolPath(tool);
      } catch (err) {
        return (err as Error).message;
      }
    }
    return undefined;
  },
  streamsListUsers: true,
  async start(ctx): Promise<RunningTarget> {
    const app = await startPolyrpc(ctx, "polyrpc-behind-envoy");
    const certs = createTestCertificates();
    try {
      const [listenPort, adminPort] = [await freePort(), await freePort()];
      const tlsDir = join(ctx.workDir, "envoy-tls");
      writeTlsDirectory(tlsDir, { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert });
      const configDir = join(ctx.workDir, "envoy-user-service");
      const [, appPort] = app.target.split(":");
      const files = await renderEnvoyConfigMaps({
        valuesFiles: [localValuesFile],
        values: {
          envoy: {
            configMountPath: configDir,
            tls: { directory: tlsDir },
            userService: { listenPort, adminPort, endpoints: [{ address: "127.0.0.1", port: Number(appPort) }] },
          },
        },
      });
      const sidecar = await startEnvoy({
        configPath: writeEnvoyFiles(configDir, files["user-service"]),
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
