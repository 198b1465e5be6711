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

// The images cannot be built here (no Docker engine); hadolint checks what can be checked.
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

    it("builds on the pinned Node 20 slim image and runs as a numeric non-root user", () => {
      expect(text).toMatch(/^ARG NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim$/m);
      expect(text).toMatch(/^RUN npx --yes turbo@2\.11\.11 prune @polyrpc\/[a-z-]+ --docker$/m);
      expect(text).toMatch(/^USER 10001:10001$/m);
      expect(text).toContain("TSX_DISABLE_CACHE=1");
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
