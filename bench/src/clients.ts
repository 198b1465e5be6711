import { readFileSync } from "node:fs";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { chatV1, UserService } from "@polyrpc/proto";

/** A gRPC (HTTP/2) transport to `target`, over TLS when `caCert` is given (the name is `localhost`). */
export function grpcTransport(target: string, caCert?: string) {
  const [host, port] = target.split(":");
  return createGrpcTransport(
    caCert
      ? {
          baseUrl: `https://localhost:${port}`,
          nodeOptions: { ca: readFileSync(caCert), host, servername: "localhost" },
        }
      : { baseUrl: `http://${host}:${port}` },
  );
}

/** A UserService client on the gRPC protocol. */
export function userClient(target: string, caCert?: string): Client<typeof UserService> {
  return createClient(UserService, grpcTransport(target, caCert));
}

/** A ChatService client on the gRPC protocol. */
export function chatClient(target: string): Client<typeof chatV1.ChatService> {
  return createClient(chatV1.ChatService, grpcTransport(target));
}

/** Creates `count` users through CreateUsers in calls of `perCall`; names start with `prefix`. */
export async function seedUsers(target: string, prefix: string, count: number, perCall = 1000): Promise<string[]> {
  const client = userClient(target);
  const ids: string[] = [];
  for (let start = 0; start < count; start += perCall) {
    const n = Math.min(perCall, count - start);
    async function* requests() {
      for (let i = start; i < start + n; i++) {
        yield { username: `${prefix}${i}`, email: `${prefix}${i}@example.com`, password: "correct horse battery" };
      }
    }
    const response = await client.createUsers(requests(), { timeoutMs: 600_000 });
    ids.push(...response.users.map((u) => u.id));
  }
  return ids;
}
