import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { withScratchFile } from "../src/scratch.js";
import { repoRoot, run, tool } from "../src/tools.js";

const dockerDir = join(repoRoot, "infra/docker");
const hadolintConfig = join(dockerDir, "hadolint.yaml");

interface HadolintFinding {
  code: string;
  level: string;
  line: number;
  message: string;
}

function hadolint(path: string) {
  const result = run(tool("hadolint"), ["--config", hadolintConfig, "--format", "json", path]);
  return { ...result, findings: JSON.parse(result.stdout) as HadolintFinding[] };
}

const dockerfiles = readdirSync(dockerDir).filter((f) => f.endsWith(".Dockerfile"));

// hadolint checks the Dockerfiles as text; production-install.test.ts runs their steps, and the
// cluster suite (tests/cluster) builds them with buildah and runs the images.
describe("the Dockerfiles", () => {
  it("are one per image: user service, chat, client", () => {
    expect(dockerfiles.sort()).toEqual(["chat.Dockerfile", "client.Dockerfile", "user-service.Dockerfile"]);
  });

  describe.each(dockerfiles)("%s", (file) => {
    const text = readFileSync(join(dockerDir, file), "utf8");

    it("passes hadolint", () => {
      const { code, findings } = hadolint(join(dockerDir, file));
      expect(findings.map((f) => `${f.line} ${f.code}: ${f.message}`)).toEqual([]);
      expect(code).toBe(0);
    });

    it("builds on the project's pinned Node slim image and runs compiled JavaScript as a numeric non-root user", () => {
      const nodeVersion = readFileSync(join(repoRoot, ".node-version"), "utf8").trim();
      expect(text).toMatch(
        new RegExp(`^ARG NODE_IMAGE=node:${nodeVersion.replaceAll(".", "\\.")}-bookworm-slim$`, "m"),
      );
      const turbo = (
        JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> }
      ).devDependencies.turbo;
      expect(text).toMatch(
        new RegExp(`^RUN npx --yes turbo@${turbo!.replaceAll(".", "\\.")} prune @polyrpc/[a-z-]+ --docker$`, "m"),
      );
      expect(text).toMatch(/^USER 10001:10001$/m);
      expect(text).toMatch(/^ENTRYPOINT \["node", "dist\/[a-z]+\.js"\]$/m);
      expect(text).not.toMatch(/tsx/);
    });
  });

  it("hadolint flags an unpinned base image and a root user", () => {
    const { code, findings } = withScratchFile(
      "Dockerfile",
      "FROM node:latest\nUSER root\nRUN apt-get install -y g++\n",
      hadolint,
    );
    expect(findings.map((f) => f.code)).toEqual(expect.arrayContaining(["DL3007", "DL3002"]));
    expect(code).not.toBe(0);
  });
});
