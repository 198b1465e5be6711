import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { type CallOptions, status as Status } from "@polyrpc/grpc-client";
import {
  ChatMessageSchema,
  CreateUsersResponseSchema,
  DeleteUserResponseSchema,
  UserSchema,
  type User,
} from "@polyrpc/proto";
import { runSuffix } from "./bulk-users.js";
import type { CliOutput } from "./cli-output.js";
import type { UserServiceClient } from "./connect-user-service.js";
import { errorInfo, hasStatus, type ErrorInfo } from "./error-info.js";
import { listUsersPages } from "./list-users-page.js";

/** The gRPC call pattern a demo step shows. */
export type CallPattern = "unary" | "client_streaming" | "server_streaming" | "bidi_streaming";

/** What the demo reports about one step; with `--json` this is the line it prints. */
export interface StepReport {
  step: number;
  of: number;
  rpc: string;
  pattern: CallPattern;
  /** True when the step behaved as expected (for the last step: failed with NOT_FOUND). */
  ok: boolean;
  summary: string;
  /** What came back, in protobuf JSON. */
  response?: JsonValue;
  /** The failure of an unexpected error, or the expected NOT_FOUND of the last step. */
  error?: ErrorInfo;
}

export interface DemoOptions {
  /** Deadline of each call in milliseconds; 0 means none. */
  timeoutMs: number;
  /** Makes usernames unique so the demo can run again against the same database; random by default. */
  runId?: string;
  /** Users per ListUsers page. */
  pageSize?: number;
}

/** A step's outcome when it behaved as expected. */
interface StepOutcome {
  summary: string;
  response?: JsonValue;
  error?: ErrorInfo;
}

interface Step {
  rpc: string;
  pattern: CallPattern;
  run(): Promise<StepOutcome>;
}

/** The service answered, but not as the demo expected. */
class UnexpectedResult extends Error {
  override readonly name = "UnexpectedResult";
  readonly code = "UNEXPECTED_RESULT";
}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new UnexpectedResult(message);
}

const PATTERN_LABEL: Record<CallPattern, string> = {
  unary: "unary",
  client_streaming: "client stream",
  server_streaming: "server stream",
  bidi_streaming: "bidi stream",
};

/**
 * Runs every UserService call pattern against a live service and checks each answer: CreateUsers
 * (3 users), CreateUser, GetUser, UpdateUser, ListUsers paged by `pageSize` following
 * `next-page-token`, Chat (3 messages), DeleteUser, and GetUser of the deleted user, which must
 * fail with NOT_FOUND. Stops at the first step that misbehaves. Resolves true when all passed.
 */
export async function runDemo(client: UserServiceClient, out: CliOutput, options: DemoOptions): Promise<boolean> {
  const run = options.runId ?? runSuffix();
  const pageSize = options.pageSize ?? 2;
  const call = (): CallOptions => (options.timeoutMs > 0 ? { timeoutMs: options.timeoutMs } : {});
  const password = "demo-password-1";
  const bulkNames = [1, 2, 3].map((i) => `demo-${run}-${i}`);
  const soloName = `demo-${run}-solo`;
  const renamed = { username: `demo-${run}-renamed`, email: `demo-${run}-renamed@example.com` };
  let bulk: User[] = [];
  let solo: User | undefined;
  const soloId = () => solo?.id ?? "";

  const steps: Step[] = [
    {
      rpc: "CreateUsers",
      pattern: "client_streaming",
      async run() {
        const requests = bulkNames.map((username) => ({ username, email: `${username}@example.com`, password }));
        const response = await client.methods.createUsers(requests, call());
        expect(
          response.count === 3 && response.users.length === 3,
          `expected 3 users created, got count ${response.count}`,
        );
        expect(
          response.users.every((u, i) => u.username === bulkNames[i] && u.id !== ""),
          "the created users do not match the ones sent",
        );
        bulk = response.users;
        return {
          summary: `created ${response.count} users in one call: ${bulkNames.join(", ")}`,
          response: toJson(CreateUsersResponseSchema, response),
        };
      },
    },
    {
      rpc: "CreateUser",
      pattern: "unary",
      async run() {
        const user = await client.methods.createUser(
          { username: soloName, email: `${soloName}@example.com`, password },
          call(),
        );
        expect(user.id !== "" && user.username === soloName, `expected a new user "${soloName}" with an id`);
        solo = user;
        return { summary: `created ${user.username} with id ${user.id}`, response: toJson(UserSchema, user) };
      },
    },
    {
      rpc: "GetUser",
      pattern: "unary",
      async run() {
        const user = await client.methods.getUser({ id: soloId() }, call());
        expect(
          user.id === soloId() && user.username === soloName,
          `expected user ${soloId()} named ${soloName}, got ${user.username}`,
        );
        return { summary: `read back ${user.username} <${user.email}>`, response: toJson(UserSchema, user) };
      },
    },
    {
      rpc: "UpdateUser",
      pattern: "unary",
      async run() {
        const user = await client.methods.updateUser({ id: soloId(), ...renamed }, call());
        expect(
          user.username === renamed.username && user.email === renamed.email,
          `expected ${renamed.username} <${renamed.email}>, got ${user.username} <${user.email}>`,
        );
        solo = user;
        return { summary: `renamed to ${user.username} <${user.email}>`, response: toJson(UserSchema, user) };
      },
    },
    {
      rpc: "ListUsers",
      pattern: "server_streaming",
      async run() {
        const wanted = new Set([...bulk.map((u) => u.id), soloId()]);
        const seen = new Set<string>();
        const tokens = new Set<string>();
        const sizes: number[] = [];
        for await (const page of listUsersPages(client, { pageSize }, call())) {
          expect(
            page.users.length <= pageSize,
            `page ${sizes.length + 1} has ${page.users.length} users, more than page_size ${pageSize}`,
          );
          sizes.push(page.users.length);
          for (const user of page.users) {
            expect(!seen.has(user.id), `user ${user.id} was listed twice`);
            seen.add(user.id);
          }
          if (page.nextPageToken !== undefined) {
            expect(!tokens.has(page.nextPageToken), "the service sent the same next-page-token twice");
            tokens.add(page.nextPageToken);
          }
        }
        const missing = [...wanted].filter((id) => !seen.has(id));
        expect(missing.length === 0, `the listing lacks the demo's users ${missing.join(", ")}`);
        return {
          summary: `${seen.size} users in ${sizes.length} pages of at most ${pageSize}, following next-page-token; all 4 of this run's users present`,
          response: { pages: sizes.length, users: seen.size, pageSizes: sizes } satisfies JsonObject,
        };
      },
    },
    {
      rpc: "Chat",
      pattern: "bidi_streaming",
      async run() {
        const texts = ["hello", "how are you?", "bye"];
        const echoes: string[] = [];
        const response: JsonValue[] = [];
        for await (const echo of client.methods.chat(
          texts.map((text) => ({ userId: soloId(), text })),
          call(),
        )) {
          echoes.push(echo.text);
          response.push(toJson(ChatMessageSchema, echo));
        }
        const expected = texts.map((t) => `Echo: ${t}`);
        expect(
          JSON.stringify(echoes) === JSON.stringify(expected),
          `expected echoes ${JSON.stringify(expected)}, got ${JSON.stringify(echoes)}`,
        );
        return {
          summary: `sent ${texts.length} messages, got ${echoes.map((e) => JSON.stringify(e)).join(", ")}`,
          response,
        };
      },
    },
    {
      rpc: "DeleteUser",
      pattern: "unary",
      async run() {
        const response = await client.methods.deleteUser({ id: soloId() }, call());
        expect(response.success, "expected success = true");
        return { summary: `deleted ${soloId()}`, response: toJson(DeleteUserResponseSchema, response) };
      },
    },
    {
      rpc: "GetUser",
      pattern: "unary",
      async run() {
        try {
          const user = await client.methods.getUser({ id: soloId() }, call());
          throw new UnexpectedResult(`expected NOT_FOUND for the deleted user, got ${user.username}`);
        } catch (err) {
          if (!hasStatus(err, Status.NOT_FOUND)) throw err;
          const error = errorInfo(err);
          return { summary: `the deleted user is gone: NOT_FOUND as expected (${error.message})`, error };
        }
      },
    },
  ];

  out.note(`polyrpc demo, run ${run}: ${steps.length} steps, every call pattern`);
  for (const [index, step] of steps.entries()) {
    const head = { step: index + 1, of: steps.length, rpc: step.rpc, pattern: step.pattern };
    const label = `[${head.step}/${head.of}] ${step.rpc} (${PATTERN_LABEL[step.pattern]})`;
    try {
      const outcome = await step.run();
      const report: StepReport = { ...head, ok: true, ...outcome };
      out.record(report as unknown as JsonObject, `${label}: ${outcome.summary} ... ok`);
    } catch (err) {
      const error = errorInfo(err);
      const report: StepReport = { ...head, ok: false, summary: `${error.code}: ${error.message}`, error };
      out.record(report as unknown as JsonObject, `${label}: FAILED: ${error.code}: ${error.message}`);
      out.note(`demo failed at step ${head.step} of ${head.of}`);
      return false;
    }
  }
  out.note(`demo passed: all ${steps.length} steps behaved as expected`);
  return true;
}
