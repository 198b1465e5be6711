import { buildah, clusterSh, imageArchive, imagesSh } from "../src/cluster.js";
import { APP_IMAGES, ENVOY_IMAGE, IMAGE_TAGS } from "../src/release.js";

/**
 * Once for the suite: the images built from the Dockerfiles with buildah (infra/images; cached by
 * content outside the repository), the cluster built and brought up (infra/cluster; binaries
 * cached by version), and every image imported into its containerd. Torn down after the suite,
 * whatever happened.
 */
export async function setup(): Promise<void> {
  const started = Date.now();
  imagesSh(["all"], { IMAGE_TAG: IMAGE_TAGS[0] });
  // The upgrade test rolls the apps to a second tag: the same build under another name.
  for (const app of APP_IMAGES)
    buildah(["tag", `docker.io/polyrpc/${app}:${IMAGE_TAGS[0]}`, `docker.io/polyrpc/${app}:${IMAGE_TAGS[1]}`]);
  const images = [...IMAGE_TAGS.flatMap((tag) => APP_IMAGES.map((app) => `polyrpc/${app}:${tag}`)), ENVOY_IMAGE];
  for (const image of images) imagesSh(["export", image, imageArchive(image)]);
  console.log(`images ready in ${Math.round((Date.now() - started) / 1000)} s`);
  clusterSh("install");
  clusterSh("build");
  clusterSh("up");
  clusterSh("import", ...images.map(imageArchive));
  console.log(`cluster up with the images in ${Math.round((Date.now() - started) / 1000)} s`);
}

export async function teardown(): Promise<void> {
  // POLYRPC_CLUSTER_KEEP=1 leaves it up for a look (`infra/cluster/cluster.sh down` ends it).
  if (process.env.POLYRPC_CLUSTER_KEEP !== "1") clusterSh("down");
}
