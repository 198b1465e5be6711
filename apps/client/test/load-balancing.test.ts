import { protoFiles, UserService } from "@polyrpc/proto";
import {
  type ServerHandle,
  type ServiceHandlers,
  createLogger,
  implementService,
  serverEnvSchema,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectUserService } from "../src/connect-user-service.js";

/** A UserService replica whose GetUser answers with its own name as the username. */
async function startReplica(name: string): Promise<ServerHandle> {
  const impl: Partial<ServiceHandlers<typeof UserService>> = {
    async getUser(request) {
      return { id: request.id, username: name, email: `${name}@example.com`, roles: ["user"] };
    },
  };
  return await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    services: [implementService(UserService, impl as ServiceHandlers<typeof UserService>)],
    files: protoFiles,
    limits: serverEnvSchema.parse({}),
    log: createLogger({ name: `load-balancing-test-${name}`, level: "silent" }),
  });
}

describe("load balancing over a target with several addresses", () => {
  let replicas: ServerHandle[] = [];
  /** `ipv4:127.0.0.1:a,127.0.0.1:b,127.0.0.1:c` */
  let target: string;

  beforeAll(async () => {
    replicas = await Promise.all(["a", "b", "c"].map(startReplica));
    target = `ipv4:${replicas.map((r) => r.address).join(",")}`;
  });
  afterAll(() => replicas.forEach((r) => r.forceShutdown()));

  it("round_robin sends each call to the next replica", async () => {
    const client = connectUserService(target, { loadBalancing: "round_robin" });
    try {
      // round_robin rotates over the connected replicas: call until all three have answered once.
      const warm = new Set<string>();
      for (let i = 0; i < 200 && warm.size < 3; i++) {
        warm.add((await client.methods.getUser({ id: `w-${i}` })).username);
        if (warm.size < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect([...warm].sort()).toEqual(["a", "b", "c"]);
      const served: string[] = [];
      for (let i = 0; i < 9; i++) served.push((await client.methods.getUser({ id: `u-${i}` })).username);
      const counts = Object.fromEntries(["a", "b", "c"].map((n) => [n, served.filter((s) => s === n).length]));
      expect(counts).toEqual({ a: 3, b: 3, c: 3 });
    } finally {
      client.close();
    }
  });

  it("pick_first keeps one replica per channel, and shuffles which one across channels", async () => {
    const chosen = new Set<string>();
    for (let channel = 0; channel < 20; channel++) {
      const client = connectUserService(target);
      try {
        const served = new Set<string>();
        for (let i = 0; i < 3; i++) served.add((await client.methods.getUser({ id: `u-${i}` })).username);
        expect(served.size).toBe(1);
        chosen.add([...served][0]!);
      } finally {
        client.close();
      }
    }
    // Unshuffled, every channel would pick the first address; shuffled, twenty channels all
    // landing on one replica has a chance of 3 in 3^20.
    expect(chosen.size).toBeGreaterThan(1);
  });
});
