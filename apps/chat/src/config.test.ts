import { ConfigError } from "@polyrpc/server-kit";
import { describe, expect, it } from "vitest";
import { loadChatConfig } from "./config.js";

describe("loadChatConfig", () => {
  it("has the documented defaults", () => {
    const config = loadChatConfig({ POLYRPC_ENV: "development" });
    expect(config).toMatchObject({
      PORT: 50052,
      DATABASE_PATH: "./data/chat.db",
      USER_SERVICE_ADDRESS: "localhost:50051",
      USER_CACHE_TTL_MS: 30_000,
      USER_OUTAGE_GRACE_MS: 600_000,
      USER_LOOKUP_TIMEOUT_MS: 2000,
      CORS_ORIGINS: [],
      SUBSCRIBER_BUFFER: 1024,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads CORS_ORIGINS as a comma-separated list of origins, or *", () => {
    expect(
      loadChatConfig({ POLYRPC_ENV: "development", CORS_ORIGINS: "https://chat.example.com, http://localhost:5173," })
        .CORS_ORIGINS,
    ).toEqual(["https://chat.example.com", "http://localhost:5173"]);
    expect(loadChatConfig({ POLYRPC_ENV: "development", CORS_ORIGINS: "*" }).CORS_ORIGINS).toEqual(["*"]);
  });

  it("names every bad variable", () => {
    let error: unknown;
    try {
      loadChatConfig({
        POLYRPC_ENV: "development",
        PORT: "70000",
        CORS_ORIGINS: "https://chat.example.com/path",
        SUBSCRIBER_BUFFER: "0",
        USER_LOOKUP_TIMEOUT_MS: "soon",
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    for (const name of ["PORT", "CORS_ORIGINS", "SUBSCRIBER_BUFFER", "USER_LOOKUP_TIMEOUT_MS"]) {
      expect(problems).toContain(`${name}:`);
    }
  });

  it("refuses * mixed with other origins", () => {
    expect(() => loadChatConfig({ POLYRPC_ENV: "development", CORS_ORIGINS: "*,https://a.example" })).toThrow(
      ConfigError,
    );
  });

  it("takes PostgreSQL from DATABASE_URL, with the pool's defaults", () => {
    expect(loadChatConfig({ POLYRPC_ENV: "development" }).DATABASE_URL).toBeUndefined();
    const config = loadChatConfig({ POLYRPC_ENV: "development", DATABASE_URL: "postgres://chat:pw@db:5432/chat" });
    expect(config).toMatchObject({
      DATABASE_URL: "postgres://chat:pw@db:5432/chat",
      DATABASE_POOL_MAX: 10,
      DATABASE_CONNECT_TIMEOUT_MS: 2000,
      DATABASE_IDLE_TIMEOUT_MS: 30_000,
    });
  });

  it("refuses a DATABASE_URL that is not postgres:// without echoing its password", () => {
    let error: unknown;
    try {
      loadChatConfig({ POLYRPC_ENV: "development", DATABASE_URL: "mysql://chat:hunter2@db/chat" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain("DATABASE_URL: must be a postgres:// or postgresql:// URL");
    expect(message).not.toContain("hunter2");
  });
});
