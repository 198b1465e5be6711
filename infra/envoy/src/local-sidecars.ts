import { createServer } from "node:net";
import { join } from "node:path";
import { startEnvoy, type EnvoyProcess } from "./envoy-process.js";
import { renderEnvoyConfigMaps, writeEnvoyFiles, type EnvoyApp } from "./render.js";
import { writeTlsDirectory, type TlsFiles } from "./tls-directory.js";
import { localValuesFile } from "./tools.js";

/** An app replica (or an Envoy) on this machine. */
export interface Endpoint {
  address: string;
  port: number;
}

/** The ports of the two local sidecars. */
export interface SidecarPorts {
  /** The user service's Envoy: TLS listener and admin. */
  userService: number;
  userServiceAdmin: number;
  /** The chat's Envoy: TLS listener and admin. */
  chat: number;
  chatAdmin: number;
  /** The chat's outbound listener to the user service (its USER_SERVICE_ADDRESS). */
  outbound: number;
}

/** A free TCP port on 127.0.0.1 (closed again; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The given ports, with 0 or a missing port replaced by a free one. */
export async function sidecarPorts(wanted: Partial<SidecarPorts> = {}): Promise<SidecarPorts> {
  const pick = async (port: number | undefined) => (port ? port : freePort());
  return {
    userService: await pick(wanted.userService),
    userServiceAdmin: await pick(wanted.userServiceAdmin),
    chat: await pick(wanted.chat),
    chatAdmin: await pick(wanted.chatAdmin),
    outbound: await pick(wanted.outbound),
  };
}

/** Options of `startLocalSidecars`. */
export interface LocalSidecarsOptions {
  /** Working directory: `<dir>/tls` (the watched certificate directory) and `<dir>/<app>` (the rendered files). */
  dir: string;
  /** The serving certificate, its key and the CA. */
  tls: TlsFiles;
  ports: SidecarPorts;
  /** The user service's replicas. */
  userService: readonly Endpoint[];
  /** The chat's replicas. */
  chat: readonly Endpoint[];
  /** More values over infra/envoy/local-values.yaml. */
  values?: Record<string, unknown>;
  /** Envoy's log lines, tagged with the app. */
  onLine?: (app: EnvoyApp, line: string) => void;
}

/** The two running sidecars. */
export interface LocalSidecars {
  userService: EnvoyProcess;
  chat: EnvoyProcess;
  ports: SidecarPorts;
  /** The certificate directory both Envoys watch; `writeTlsDirectory(tlsDir, …)` rotates it. */
  tlsDir: string;
  /** The rendered envoy.yaml of each app. */
  configPaths: Record<EnvoyApp, string>;
  stop(): Promise<void>;
}

/**
 * Renders the chart's Envoy configuration with the local values and the given ports and replicas,
 * and starts the user service's and the chat's Envoys on it; resolves once both are ready and
 * every replica passed its health check. The chat's Envoy reaches the user service through the
 * user service's Envoy over TLS, as the pods do.
 */
export async function startLocalSidecars(options: LocalSidecarsOptions): Promise<LocalSidecars> {
  const { dir, ports } = options;
  const tlsDir = join(dir, "tls");
  writeTlsDirectory(tlsDir, options.tls);
  const configPaths = {} as Record<EnvoyApp, string>;
  const started: EnvoyProcess[] = [];
  try {
    for (const app of ["user-service", "chat"] as const) {
      const configDir = join(dir, app);
      const files = await renderEnvoyConfigMaps({
        valuesFiles: [localValuesFile],
        values: deepMerge(
          {
            envoy: {
              configMountPath: configDir,
              tls: { directory: tlsDir },
              userService: {
                listenPort: ports.userService,
                adminPort: ports.userServiceAdmin,
                endpoints: options.userService,
              },
              chat: { listenPort: ports.chat, adminPort: ports.chatAdmin, endpoints: options.chat },
            },
            loadBalancing: {
              outbound: { port: ports.outbound },
              endpoints: [{ address: "127.0.0.1", port: ports.userService }],
            },
          },
          options.values ?? {},
        ),
      });
      configPaths[app] = writeEnvoyFiles(configDir, files[app]);
    }
    const [userService, chat] = await Promise.all(
      (["user-service", "chat"] as const).map(async (app) => {
        const envoy = await startEnvoy({
          configPath: configPaths[app],
          adminPort: app === "user-service" ? ports.userServiceAdmin : ports.chatAdmin,
          onLine: options.onLine && ((line) => options.onLine!(app, line)),
        });
        started.push(envoy);
        return envoy;
      }),
    );
    await userService!.waitForHealthy("local_app");
    await chat!.waitForHealthy("local_app");
    await chat!.waitForHealthy("user_service");
    return {
      userService: userService!,
      chat: chat!,
      ports,
      tlsDir,
      configPaths,
      stop: async () => {
        await Promise.all([chat!.stop(), userService!.stop()]);
      },
    };
  } catch (err) {
    await Promise.all(started.map((envoy) => envoy.stop()));
    throw err;
  }
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
