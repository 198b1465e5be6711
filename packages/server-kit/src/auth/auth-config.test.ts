import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, portSchema, serverEnvSchema } from "../config.js";
import { UnavailableError } from "../errors.js";
import { authEnvSchema, authHookFromConfig, authModeOf, checkAuthEnv, type AuthEnv } from "./auth-config.js";
import { createTokenVerifier } from "./token-verifier.js";

/** An app schema wired as the apps' config.ts do it. */
const appSchema = serverEnvSchema
  .extend({ PORT: portSchema.default(50051) })
  .extend(authEnvSchema.shape)
  .superRefine(checkAuthEnv);

const SECRET = "s".repeat(32);
const HS256 = { AUTH_MODE: "hs256", AUTH_HS256_SECRET: SECRET, AUTH_ISSUER: "polyrpc-dev", AUTH_AUDIENCE: "polyrpc" };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(appSchema, env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}

describe("authEnvSchema", () => {
  it("refuses to start in production without AUTH_MODE, naming it", () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^AUTH_MODE: must be set when POLYRPC_ENV is production/)]);
    expect(problemsOf({ POLYRPC_ENV: "production" })).toHaveLength(1);
  });

  it("turns auth off by default in development", () => {
    const config = loadConfig(appSchema, { POLYRPC_ENV: "development" });
    expect(authModeOf(config)).toBe("off");
    expect(config.AUTH_CLOCK_SKEW_S).toBe(60);
  });

  it("accepts an explicit AUTH_MODE=off in production", () => {
    expect(authModeOf(loadConfig(appSchema, { AUTH_MODE: "off" }))).toBe("off");
  });

  it("needs the secret, the issuer and the audience in hs256 mode", () => {
    expect(problemsOf({ AUTH_MODE: "hs256" }).map((p) => p.split(":")[0])).toEqual([
      "AUTH_HS256_SECRET",
      "AUTH_ISSUER",
      "AUTH_AUDIENCE",
    ]);
    expect(problemsOf(HS256)).toEqual([]);
  });

  it("refuses an HS256 secret shorter than 32 bytes", () => {
    expect(problemsOf({ ...HS256, AUTH_HS256_SECRET: "short" })).toEqual([
      expect.stringMatching(/^AUTH_HS256_SECRET: must be at least 32 bytes/),
    ]);
  });

  it("needs exactly one JWKS source in jwks mode", () => {
    const jwks = { AUTH_MODE: "jwks", AUTH_ISSUER: "https://id.example", AUTH_AUDIENCE: "polyrpc" };
    expect(problemsOf(jwks)).toEqual([expect.stringMatching(/^AUTH_JWKS_URL: or AUTH_JWKS_FILE is required/)]);
    expect(
      problemsOf({ ...jwks, AUTH_JWKS_FILE: "/keys/jwks.json", AUTH_JWKS_URL: "https://id.example/jwks" }),
    ).toEqual([expect.stringMatching(/^AUTH_JWKS_URL: and AUTH_JWKS_FILE are exclusive/)]);
    expect(problemsOf({ ...jwks, AUTH_JWKS_URL: "https://id.example/jwks" })).toEqual([]);
  });

  it("only fetches a JWKS over https, or http on localhost", () => {
    const jwks = { AUTH_MODE: "jwks", AUTH_ISSUER: "i", AUTH_AUDIENCE: "a" };
    expect(problemsOf({ ...jwks, AUTH_JWKS_URL: "http://id.example/jwks" })).toEqual([
      expect.stringMatching(/^AUTH_JWKS_URL: must be an https URL/),
    ]);
    expect(problemsOf({ ...jwks, AUTH_JWKS_URL: "http://127.0.0.1:8080/jwks" })).toEqual([]);
  });

  it("parses AUTH_ALGORITHMS as a subset of RS256 and ES256", () => {
    const jwks = { AUTH_MODE: "jwks", AUTH_ISSUER: "i", AUTH_AUDIENCE: "a", AUTH_JWKS_FILE: "/k.json" };
    expect(loadConfig(appSchema, jwks).AUTH_ALGORITHMS).toEqual(["RS256", "ES256"]);
    expect(loadConfig(appSchema, { ...jwks, AUTH_ALGORITHMS: "ES256" }).AUTH_ALGORITHMS).toEqual(["ES256"]);
    expect(problemsOf({ ...jwks, AUTH_ALGORITHMS: "RS256,HS256" })).toEqual([
      'AUTH_ALGORITHMS: must be RS256, ES256 or RS256,ES256 (got "RS256,HS256")',
    ]);
  });
});

describe("authHookFromConfig", () => {
  it("returns a hook that lets every call through when auth is off", async () => {
    const hook = authHookFromConfig(loadConfig(appSchema, { POLYRPC_ENV: "development" }));
    expect(await hook.start({} as never)).toBeUndefined();
  });

  it("names the missing variables even when the app schema skipped checkAuthEnv", () => {
    const config: AuthEnv = { POLYRPC_ENV: "production", AUTH_ALGORITHMS: ["RS256"], AUTH_CLOCK_SKEW_S: 60 };
    expect(() => authHookFromConfig(config)).toThrow(/AUTH_MODE: must be set/);
    expect(() => authHookFromConfig({ ...config, AUTH_MODE: "hs256" })).toThrow(/AUTH_HS256_SECRET: is required/);
  });
});

describe("createTokenVerifier", () => {
  const common = { issuer: "i", audience: "a" };

  it("refuses an HS256 secret under 32 bytes", () => {
    expect(() => createTokenVerifier({ mode: "hs256", secret: "short", ...common })).toThrow(/at least 32 bytes/);
  });

  it("refuses a JWKS URL over plain http to another host", () => {
    expect(() => createTokenVerifier({ mode: "jwks", jwks: { url: "http://id.example/jwks" }, ...common })).toThrow(
      /must be https/,
    );
  });

  it("answers UNAVAILABLE while the JWKS cannot be loaded", async () => {
    const errors: unknown[] = [];
    const verifier = createTokenVerifier({
      mode: "jwks",
      jwks: { file: "/nonexistent/jwks.json" },
      onLoadError: (err) => errors.push(err),
      ...common,
    });
    const token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhIn0.c2ln";
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(UnavailableError);
    expect(errors).toHaveLength(1);
  });
});
