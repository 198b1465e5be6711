export {
  startEnvoy,
  validateEnvoyConfig,
  type EnvoyProcess,
  type StartEnvoyOptions,
  type UpstreamHost,
} from "./envoy-process.js";
export {
  freePort,
  sidecarPorts,
  startLocalSidecars,
  type Endpoint,
  type LocalSidecars,
  type LocalSidecarsOptions,
  type SidecarPorts,
} from "./local-sidecars.js";
export {
  renderEnvoyConfigMaps,
  writeEnvoyFiles,
  type EnvoyApp,
  type EnvoyFiles,
  type RenderOptions,
} from "./render.js";
export { createDevelopmentCertificates } from "./development-certificates.js";
export { readTlsCertificate, writeTlsDirectory, type TlsFiles } from "./tls-directory.js";
export { chartDir, localValuesFile, repoRoot, toolPath } from "./tools.js";
