import type { Manifest } from "./chart.js";

/** A container field as rendered (only what the checks read). */
interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string };
  procMount?: string;
  windowsOptions?: { hostProcess?: boolean };
}

interface Container {
  name: string;
  securityContext?: SecurityContext;
  ports?: { hostPort?: number }[];
}

interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext & { sysctls?: { name: string }[] };
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  volumes?: Record<string, unknown>[];
}

/** The volume types Pod Security "restricted" allows. */
const RESTRICTED_VOLUME_TYPES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

/** Sysctls the baseline profile allows (Kubernetes 1.29). */
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);

/** The pod template of a workload, or the pod itself. */
export function podSpecOf(manifest: Manifest): PodSpec | undefined {
  const spec = manifest.spec as Record<string, unknown> | undefined;
  if (!spec) return undefined;
  switch (manifest.kind) {
    case "Pod":
      return spec as PodSpec;
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
      return (spec.template as { spec: PodSpec }).spec;
    case "CronJob":
      return ((spec.jobTemplate as { spec: { template: { spec: PodSpec } } }).spec.template as { spec: PodSpec }).spec;
    default:
      return undefined;
  }
}

/**
 * Every way a workload breaks Pod Security Standard "restricted" (the baseline controls included),
 * plus this chart's own rule that every root filesystem is read-only. Each finding names the
 * object, the container and the field.
 */
export function restrictedViolations(manifest: Manifest): string[] {
  const pod = podSpecOf(manifest);
  if (!pod) return [];
  const where = `${manifest.kind}/${manifest.metadata.name}`;
  const found: string[] = [];
  const podContext = pod.securityContext ?? {};

  if (pod.hostNetwork) found.push(`${where}: hostNetwork`);
  if (pod.hostPID) found.push(`${where}: hostPID`);
  if (pod.hostIPC) found.push(`${where}: hostIPC`);
  for (const sysctl of podContext.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(sysctl.name)) found.push(`${where}: sysctl ${sysctl.name} is not in the safe set`);
  }
  for (const volume of pod.volumes ?? []) {
    const types = Object.keys(volume).filter((k) => k !== "name");
    for (const type of types) {
      if (!RESTRICTED_VOLUME_TYPES.has(type)) found.push(`${where}: volume ${String(volume.name)} is of type ${type}`);
    }
  }
  if (podContext.runAsUser === 0) found.push(`${where}: pod runAsUser 0`);

  const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? []), ...(pod.ephemeralContainers ?? [])];
  if (containers.length === 0) found.push(`${where}: no containers`);
  for (const container of containers) {
    const at = `${where} container ${container.name}`;
    const sc = container.securityContext ?? {};
    if (sc.privileged) found.push(`${at}: privileged`);
    if (sc.windowsOptions?.hostProcess || podContext.windowsOptions?.hostProcess) found.push(`${at}: hostProcess`);
    if (sc.allowPrivilegeEscalation !== false) found.push(`${at}: allowPrivilegeEscalation is not false`);
    if ((sc.runAsNonRoot ?? podContext.runAsNonRoot) !== true) found.push(`${at}: runAsNonRoot is not true`);
    const uid = sc.runAsUser ?? podContext.runAsUser;
    if (uid === 0) found.push(`${at}: runAsUser 0`);
    if (uid === undefined) found.push(`${at}: no numeric runAsUser (the image's user decides)`);
    const seccomp = sc.seccompProfile?.type ?? podContext.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      found.push(`${at}: seccompProfile is ${seccomp ?? "unset"}, not RuntimeDefault or Localhost`);
    }
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) found.push(`${at}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== "NET_BIND_SERVICE") found.push(`${at}: adds capability ${cap}`);
    }
    for (const context of [sc, podContext]) {
      const se = context.seLinuxOptions;
      if (se?.user || se?.role) found.push(`${at}: seLinuxOptions user or role set`);
      if (se?.type && !["container_t", "container_init_t", "container_kvm_t"].includes(se.type)) {
        found.push(`${at}: seLinuxOptions type ${se.type}`);
      }
    }
    if (sc.procMount !== undefined && sc.procMount !== "Default") found.push(`${at}: procMount ${sc.procMount}`);
    for (const port of container.ports ?? []) {
      if (port.hostPort) found.push(`${at}: hostPort ${port.hostPort}`);
    }
    if (sc.readOnlyRootFilesystem !== true) found.push(`${at}: readOnlyRootFilesystem is not true`);
  }
  return found;
}
