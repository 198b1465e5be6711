import { ChatMessageSchema, CreateUsersResponseSchema, DeleteUserResponseSchema, UserSchema } from "@polyrpc/proto";
import type { CallOptions } from "@polyrpc/grpc-client";
import { generatedUsers, runSuffix, usersFromJsonLines, type NewUserInit } from "./bulk-users.js";
import type { UserCommand } from "./cli-args.js";
import { formatUser, type CliOutput } from "./cli-output.js";
import type { UserServiceClient } from "./connect-user-service.js";
import { runDemo } from "./demo.js";
import { listUsersPage } from "./list-users-page.js";
import { readLines } from "./read-lines.js";

/** What a subcommand runs with. */
export interface CommandContext {
  client: UserServiceClient;
  out: CliOutput;
  /** Deadline of each call in milliseconds; 0 means none. */
  timeoutMs: number;
  /** Read by `create-many` (without --count) and `echo`. */
  stdin: NodeJS.ReadableStream;
}

/**
 * Streams users to CreateUsers. If the input turns out to be bad half-way, the call is cancelled;
 * report the input's error rather than the CANCELLED the cancellation produces.
 */
async function createUsers(
  ctx: CommandContext,
  users: AsyncIterable<NewUserInit> | Iterable<NewUserInit>,
  options: CallOptions,
) {
  let inputError: unknown;
  async function* guarded() {
    try {
      yield* users;
    } catch (err) {
      inputError = err;
      throw err;
    }
  }
  try {
    return await ctx.client.methods.createUsers(guarded(), options);
  } catch (err) {
    throw inputError ?? err;
  }
}

/**
 * Runs one UserService subcommand and resolves with its exit status. Call failures are thrown
 * (grpc-js ServiceErrors), for the caller to report.
 */
export async function runCommand(command: UserCommand, ctx: CommandContext): Promise<number> {
  const { client, out } = ctx;
  const options: CallOptions = ctx.timeoutMs > 0 ? { timeoutMs: ctx.timeoutMs } : {};
  switch (command.name) {
    case "get": {
      const user = await client.methods.getUser({ id: command.id }, options);
      out.message(UserSchema, user, formatUser(user));
      return 0;
    }
    case "create": {
      const { username, email, password } = command;
      const user = await client.methods.createUser({ username, email, password }, options);
      out.message(UserSchema, user, formatUser(user));
      return 0;
    }
    case "update": {
      const { id, username, email } = command;
      const user = await client.methods.updateUser({ id, username, email }, options);
      out.message(UserSchema, user, formatUser(user));
      return 0;
    }
    case "delete": {
      const response = await client.methods.deleteUser({ id: command.id }, options);
      out.message(DeleteUserResponseSchema, response, `deleted ${command.id}`);
      return 0;
    }
    case "list": {
      const page = await listUsersPage(client, { pageSize: command.pageSize, pageToken: command.pageToken }, options);
      for (const user of page.users) out.message(UserSchema, user, formatUser(user));
      if (page.nextPageToken !== undefined) {
        out.record({ nextPageToken: page.nextPageToken }, `next page: --page-token ${page.nextPageToken}`);
      }
      return 0;
    }
    case "create-many": {
      const users =
        command.count !== undefined
          ? generatedUsers(command.count, command.prefix ?? `user-${runSuffix()}`)
          : usersFromJsonLines(readLines(ctx.stdin));
      const response = await createUsers(ctx, users, options);
      const text = [...response.users.map(formatUser), `created ${response.count} users`].join("\n");
      out.message(CreateUsersResponseSchema, response, text);
      return 0;
    }
    case "echo": {
      // UserService.Chat, the echo: not the ChatService (see chat-commands.ts).
      const userId = command.userId;
      async function* messages() {
        for await (const text of readLines(ctx.stdin)) yield { userId, text };
      }
      for await (const echo of client.methods.chat(messages(), options)) {
        out.message(ChatMessageSchema, echo, echo.text);
      }
      return 0;
    }
    case "demo":
      return (await runDemo(client, out, { timeoutMs: ctx.timeoutMs })) ? 0 : 1;
  }
}
