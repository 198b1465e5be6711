/**
 * One in-memory UserService handler served by either runtime of the kit, with the same call
 * pipeline: `RUNTIME=grpc-js` (startGrpcServer) or `RUNTIME=connect-node` (startConnectServer).
 * What differs between the two processes is the runtime and nothing else.
 */
import { create } from "@bufbuild/protobuf";
import {
  protoFiles,
  UserSchema,
  UserService,
  type ChatMessage,
  type CreateUserRequest,
  type DeleteUserRequest,
  type GetUserRequest,
  type UpdateUserRequest,
  type User,
} from "@polyrpc/proto";
import {
  NotFoundError,
  callPipelineEnvShape,
  checkAuthEnv,
  createLogger,
  exitOnSignals,
  implementService,
  loadConfig,
  portSchema,
  serverEnvSchema,
  startCallPipeline,
} from "@polyrpc/server-kit";
import { startGrpcServer } from "@polyrpc/server-kit/grpc-js";
import { startConnectServer } from "@polyrpc/server-kit/connect";
import { z } from "zod";

const config = loadConfig(
  serverEnvSchema
    .extend(callPipelineEnvShape)
    .extend({ PORT: portSchema.default(0), RUNTIME: z.enum(["grpc-js", "connect-node"]) })
    .superRefine(checkAuthEnv),
  process.env,
);
const log = createLogger({ name: `bench-${config.RUNTIME}`, level: config.LOG_LEVEL });
const users = new Map<string, User>();

function add(username: string, email: string): User {
  const user = create(UserSchema, {
    id: crypto.randomUUID(),
    username,
    email,
    createdAt: BigInt(Math.floor(Date.now() / 1000)),
    roles: ["user"],
  });
  users.set(user.id, user);
  return user;
}

function get(id: string): User {
  const user = users.get(id);
  if (!user) throw new NotFoundError(`user "${id}" not found`);
  return user;
}

/** The handler both runtimes serve: it uses no call context, so it fits either runtime's type. */
const impl = {
  async getUser(request: GetUserRequest) {
    return get(request.id);
  },
  async createUser(request: CreateUserRequest) {
    return add(request.username, request.email);
  },
  async updateUser(request: UpdateUserRequest) {
    const user = get(request.id);
    if (request.username !== undefined) user.username = request.username;
    if (request.email !== undefined) user.email = request.email;
    return user;
  },
  async deleteUser(request: DeleteUserRequest) {
    return { success: users.delete(request.id) };
  },
  async *listUsers() {
    yield* users.values();
  },
  async createUsers(requests: AsyncIterable<CreateUserRequest>) {
    const created: User[] = [];
    for await (const request of requests) created.push(add(request.username, request.email));
    return { users: created, count: created.length };
  },
  async *chat(messages: AsyncIterable<ChatMessage>) {
    for await (const message of messages) {
      yield { userId: message.userId, text: `Echo: ${message.text}`, timestamp: BigInt(Math.floor(Date.now() / 1000)) };
    }
  },
};

const pipeline = await startCallPipeline(config, { serviceName: `bench-${config.RUNTIME}`, log });
// Both runtimes take the same options: the one difference measured is the runtime.
const options = {
  host: config.HOST,
  port: config.PORT,
  services: [implementService(UserService, impl)],
  files: protoFiles,
  limits: config,
  log,
  hooks: pipeline.hooks,
};
const server = config.RUNTIME === "grpc-js" ? await startGrpcServer(options) : await startConnectServer(options);
exitOnSignals(async () => {
  await server.shutdown();
  await pipeline.stop();
}, log);
