import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./paths.js";
import type { TargetDef } from "./targets.js";

const envoyPackage = join(repoRoot, "infra/envoy");

/**
 * polyrpc's user service behind the local Envoy sidecar with TLS, as the chart deploys it. The
 * sidecar's config and the helper that starts the real Envoy come from infra/envoy.
 */
export const envoyTarget: TargetDef = {
  name: "polyrpc-envoy",
  description: "apps/user-service behind the Envoy sidecar (TLS on Envoy, plaintext to the app)",
  unavailable: () =>
    existsSync(join(envoyPackage, "package.json"))
      ? "infra/envoy exists but the bench does not drive it yet"
      : "infra/envoy (the sidecar config and its helper) is not in this tree yet",
  streamsListUsers: true,
  start() {
    throw new Error(envoyTarget.unavailable());
  },
};
