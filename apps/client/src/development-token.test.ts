import { decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { DEVELOPMENT_AUDIENCE, DEVELOPMENT_ISSUER, mintDevelopmentToken, parseTtl } from "./development-token.js";

const SECRET = "a development secret of 32 bytes!";

describe("mintDevelopmentToken", () => {
  it("mints an HS256 JWT that jose verifies with the same secret, issuer and audience", async () => {
    const now = new Date();
    const token = await mintDevelopmentToken({ secret: SECRET, subject: "ada", roles: ["admin", "user"], now });
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ["HS256"],
      issuer: DEVELOPMENT_ISSUER,
      audience: DEVELOPMENT_AUDIENCE,
    });
    expect(protectedHeader).toEqual({ alg: "HS256", typ: "JWT" });
    const iat = Math.floor(now.getTime() / 1000);
    expect(payload).toEqual({
      sub: "ada",
      roles: ["admin", "user"],
      iss: "polyrpc-dev",
      aud: "polyrpc",
      iat,
      exp: iat + 3600,
    });
  });

  it("gives the user role by default and honours the lifetime, issuer and audience asked for", async () => {
    const token = await mintDevelopmentToken({
      secret: SECRET,
      subject: "bob",
      ttlSeconds: 90,
      issuer: "https://id.example",
      audience: "chat",
    });
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      issuer: "https://id.example",
      audience: "chat",
    });
    expect(payload.roles).toEqual(["user"]);
    expect(payload.exp! - payload.iat!).toBe(90);
    expect(decodeProtectedHeader(token).alg).toBe("HS256");
  });

  it("is refused by a verifier holding another secret", async () => {
    const token = await mintDevelopmentToken({ secret: SECRET, subject: "ada" });
    await expect(jwtVerify(token, new TextEncoder().encode("x".repeat(32)))).rejects.toThrow(/signature/);
  });

  it("refuses a secret shorter than 32 bytes, an empty subject and a non-positive lifetime", async () => {
    await expect(mintDevelopmentToken({ secret: "short", subject: "ada" })).rejects.toThrow(/at least 32 bytes/);
    await expect(mintDevelopmentToken({ secret: SECRET, subject: "" })).rejects.toThrow(/subject/);
    await expect(mintDevelopmentToken({ secret: SECRET, subject: "a", ttlSeconds: 0 })).rejects.toThrow(/lifetime/);
  });
});

describe("parseTtl", () => {
  it.each([
    ["90", 90],
    ["45s", 45],
    ["30m", 1800],
    ["1h", 3600],
    ["7d", 604_800],
    ["1 h", undefined],
    ["1w", undefined],
    ["-1s", undefined],
    ["", undefined],
  ])("reads %j as %j seconds", (text, seconds) => {
    expect(parseTtl(text)).toBe(seconds);
  });
});
