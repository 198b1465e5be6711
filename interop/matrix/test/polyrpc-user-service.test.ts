import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { createGrpcClient } from "@polyrpc/grpc-client";
import { UserService } from "@polyrpc/proto";
import { loggedPort, startServiceProcess, type ServiceProcess } from "@polyrpc/testing";
import { afterEach, describe, expect, it } from "vitest";
import { POLYRPC_USER_SERVICE_ENV } from "../src/processes.js";

const userServiceDir = join(import.meta.dirname, "../../../apps/user-service");

/** The user service as a process, from the given entry point, on SQLite in memory. */
function startUserService(name: string, entry: string): Promise<ServiceProcess> {
  return startServiceProcess({
    name,
    command: process.execPath,
    args: ["--conditions=polyrpc-source", "--import", "tsx", entry],
    cwd: userServiceDir,
    env: { ...POLYRPC_USER_SERVICE_ENV },
    portOf: loggedPort("gRPC server listening"),
    timeoutMs: 60_000,
  });
}

describe("the user service the matrix runs", () => {
  let service: ServiceProcess | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  it.each([
    ["the matrix's entry point", join(import.meta.dirname, "../src/polyrpc-user-service.ts"), "ascii-value", "00ff10"],
    ["the production entry point", join(userServiceDir, "src/main.ts"), undefined, undefined],
  ])("echoes the gRPC interop test headers only from %s", async (name, entry, header, trailer) => {
    service = await startUserService(name, entry);
    const client = createGrpcClient(UserService, service.target);
    try {
      const metadata = new Metadata();
      metadata.set("x-grpc-test-echo-initial", "ascii-value");
      metadata.set("x-grpc-test-echo-trailing-bin", Buffer.from([0x00, 0xff, 0x10]));
      let seenHeader: Metadata | undefined;
      let seenTrailer: Metadata | undefined;
      await client.methods.createUser(
        { username: "echo", email: "echo@example.com", password: "password" },
        { metadata, onHeader: (m) => (seenHeader = m), onTrailer: (m) => (seenTrailer = m) },
      );
      expect(seenHeader?.get("x-grpc-test-echo-initial")[0]).toBe(header);
      expect((seenTrailer?.get("x-grpc-test-echo-trailing-bin")[0] as Buffer | undefined)?.toString("hex")).toBe(
        trailer,
      );
    } finally {
      client.close();
    }
  });
});
