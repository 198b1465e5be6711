import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, loadConfig, portSchema, redactUrlPassword, serverEnvSchema } from "./config.js";

const schema = serverEnvSchema.extend({ PORT: portSchema.default(50051), NAME: z.string().min(2) });

describe("loadConfig", () => {
  it("parses, applies defaults and freezes the result", () => {
    const config = loadConfig(schema, { PORT: "6000", NAME: "svc", UNRELATED: "ignored" });
    expect(config.PORT).toBe(6000);
    expect(config.NAME).toBe("svc");
    expect(config.MAX_CONCURRENT_STREAMS).toBe(100);
    expect(config.KEEPALIVE_TIME_MS).toBe(60_000);
    expect(config).not.toHaveProperty("UNRELATED");
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig(schema, { PORT: "", NAME: "svc" }).PORT).toBe(50051);
  });

  it("names every bad variable at once, with what it got", () => {
    const attempt = () => loadConfig(schema, { PORT: "70000", MAX_RECEIVE_MESSAGE_BYTES: "lots" });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(3);
      expect(problems.find((p) => p.startsWith("PORT:"))).toContain('(got "70000")');
      expect(problems.find((p) => p.startsWith("MAX_RECEIVE_MESSAGE_BYTES:"))).toContain('(got "lots")');
      expect(problems.find((p) => p.startsWith("NAME:"))).toContain("(got unset)");
      expect((err as Error).message).toMatch(/^invalid configuration:\n  - /);
    }
  });

  it("never prints a secret's value back, only its length", () => {
    const withSecret = schema.extend({ AUTH_HS256_SECRET: z.string().min(32) });
    try {
      loadConfig(withSecret, { NAME: "svc", AUTH_HS256_SECRET: "hunter2" });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain("AUTH_HS256_SECRET");
      expect((err as Error).message).toContain("(got 7 characters)");
      expect((err as Error).message).not.toContain("hunter2");
    }
  });

  it("never prints the password of a URL back", () => {
    const withUrl = schema.extend({ DATABASE_URL: z.string().regex(/^postgres:\/\/.*\/\w+$/) });
    try {
      loadConfig(withUrl, { NAME: "svc", DATABASE_URL: "postgres://app:hunter2@db.internal:5432/" });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('(got "postgres://app:***@db.internal:5432/")');
      expect((err as Error).message).not.toContain("hunter2");
    }
  });
});

describe("redactUrlPassword", () => {
  it.each([
    ["postgres://app:hunter2@db:5432/users", "postgres://app:***@db:5432/users"],
    ["postgresql://:p%40ss@db/users", "postgresql://:***@db/users"],
    ["postgres://app@db/users", "postgres://app@db/users"],
    [
      "postgres://db/users?sslmode=require&password=x&user=a",
      "postgres://db/users?sslmode=require&password=***&user=a",
    ],
    ["postgres://db/users?password=x", "postgres://db/users?password=***"],
    ["not a url", "not a url"],
  ])("turns %s into %s", (value, redacted) => {
    expect(redactUrlPassword(value)).toBe(redacted);
  });
});
