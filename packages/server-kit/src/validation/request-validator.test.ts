import {
  create,
  createFileRegistry,
  setExtension,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { FieldDescriptorProto_Type, FieldOptionsSchema, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { field as fieldRules, FieldRulesSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { status as Status } from "@grpc/grpc-js";
import {
  chatV1,
  CreateUserRequestSchema,
  DeleteUserRequestSchema,
  GetUserRequestSchema,
  ListUsersRequestSchema,
  UpdateUserRequestSchema,
} from "@polyrpc/proto";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../errors.js";
import { createLogger } from "../logger.js";
import { toRpcStatus } from "../rpc-status.js";
import { createRequestValidator } from "./request-validator.js";

const validator = createRequestValidator();

/** What validating `init` as a `schema` message throws, or undefined when it passes. */
function violationOf<Desc extends DescMessage>(
  schema: Desc,
  init: MessageInitShape<Desc>,
): InvalidArgumentError | undefined {
  try {
    validator.validate(schema, create(schema, init) as MessageShape<Desc>);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err;
    throw err;
  }
}

const user = { username: "ada_lovelace", email: "ada@example.com", password: "correct horse" };
const room = "general.chat-1";
/** 254 characters, the longest address allowed. */
const longestEmail = `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;

describe("createRequestValidator", () => {
  it("passes valid requests of every validated message", () => {
    expect(violationOf(CreateUserRequestSchema, user)).toBeUndefined();
    expect(violationOf(CreateUserRequestSchema, { ...user, email: longestEmail })).toBeUndefined();
    expect(violationOf(GetUserRequestSchema, { id: "4b1c" })).toBeUndefined();
    expect(violationOf(DeleteUserRequestSchema, { id: "x".repeat(128) })).toBeUndefined();
    expect(violationOf(UpdateUserRequestSchema, { id: "4b1c", username: "ada", email: "a@b.co" })).toBeUndefined();
    expect(violationOf(ListUsersRequestSchema, { pageSize: 0 })).toBeUndefined();
    expect(violationOf(ListUsersRequestSchema, { pageSize: 10, pageToken: "opaque" })).toBeUndefined();
    expect(violationOf(chatV1.ChatRequestSchema, { action: { case: "join", value: { room, userId: "u1" } } })).toBe(
      undefined,
    );
    expect(violationOf(chatV1.ChatRequestSchema, { action: { case: "send", value: { text: "hi" } } })).toBe(undefined);
    expect(violationOf(chatV1.SubscribeRequestSchema, { room })).toBeUndefined();
    expect(violationOf(chatV1.SendMessageRequestSchema, { room, userId: "u1", text: "hi" })).toBeUndefined();
    expect(violationOf(chatV1.GetHistoryRequestSchema, { room })).toBeUndefined();
  });

  it("passes an UpdateUserRequest that sets none of its optional fields", () => {
    expect(violationOf(UpdateUserRequestSchema, { id: "4b1c" })).toBeUndefined();
  });

  it("counts characters (code points), not UTF-16 units or bytes", () => {
    expect(violationOf(CreateUserRequestSchema, { ...user, password: "🔑".repeat(8) })).toBeUndefined();
    expect(violationOf(CreateUserRequestSchema, { ...user, password: "🔑".repeat(7) })?.field).toBe("password");
    const text = "💬".repeat(4096);
    expect(violationOf(chatV1.SendMessageRequestSchema, { room, userId: "u1", text })).toBeUndefined();
  });

  it("leaves GetHistory's limit to the service, which clamps it", () => {
    expect(violationOf(chatV1.GetHistoryRequestSchema, { room, limit: 100_000 })).toBeUndefined();
  });

  // [case, schema, request, field, message]
  it.each<[string, DescMessage, MessageInitShape<DescMessage>, string, string]>([
    [
      "a short username",
      CreateUserRequestSchema,
      { ...user, username: "ab" },
      "username",
      "username: must be at least 3 characters",
    ],
    [
      "a long username",
      CreateUserRequestSchema,
      { ...user, username: "a".repeat(33) },
      "username",
      "username: must be at most 32 characters",
    ],
    [
      "a username with a space",
      CreateUserRequestSchema,
      { ...user, username: "ada lovelace" },
      "username",
      "username: does not match regex pattern `^[A-Za-z0-9_.-]+$`",
    ],
    [
      "a non-ASCII username",
      CreateUserRequestSchema,
      { ...user, username: "adé" },
      "username",
      "username: does not match regex pattern `^[A-Za-z0-9_.-]+$`",
    ],
    [
      "an invalid email",
      CreateUserRequestSchema,
      { ...user, email: "ada.example.com" },
      "email",
      "email: must be a valid email address",
    ],
    [
      "an empty email",
      CreateUserRequestSchema,
      { ...user, email: "" },
      "email",
      "email: value is empty, which is not a valid email address",
    ],
    [
      "an email without a dot in its domain",
      CreateUserRequestSchema,
      { ...user, email: "ada@localhost" },
      "email",
      "email: must have a dot in its domain",
    ],
    [
      "an email over 254 characters",
      CreateUserRequestSchema,
      { ...user, email: `a${longestEmail}` },
      "email",
      "email: must be at most 254 characters",
    ],
    [
      "a short password",
      CreateUserRequestSchema,
      { ...user, password: "1234567" },
      "password",
      "password: must be at least 8 characters",
    ],
    [
      "a long password",
      CreateUserRequestSchema,
      { ...user, password: "x".repeat(1025) },
      "password",
      "password: must be at most 1024 characters",
    ],
    [
      "an update to a short username",
      UpdateUserRequestSchema,
      { id: "1", username: "ab" },
      "username",
      "username: must be at least 3 characters",
    ],
    [
      "an update to an invalid email",
      UpdateUserRequestSchema,
      { id: "1", email: "ada" },
      "email",
      "email: must be a valid email address",
    ],
    ["an update without an id", UpdateUserRequestSchema, { username: "ada" }, "id", "id: value is required"],
    ["a get without an id", GetUserRequestSchema, {}, "id", "id: value is required"],
    ["a get with a long id", GetUserRequestSchema, { id: "x".repeat(129) }, "id", "id: must be at most 128 characters"],
    ["a delete without an id", DeleteUserRequestSchema, {}, "id", "id: value is required"],
    [
      "a delete with a long id",
      DeleteUserRequestSchema,
      { id: "x".repeat(129) },
      "id",
      "id: must be at most 128 characters",
    ],
    [
      "a negative page size",
      ListUsersRequestSchema,
      { pageSize: -1 },
      "page_size",
      "page_size: must be greater than or equal to 0",
    ],
    [
      "a join without a room",
      chatV1.ChatRequestSchema,
      { action: { case: "join", value: { userId: "u1" } } },
      "join.room",
      "join.room: value is required",
    ],
    [
      "a join to a bad room",
      chatV1.ChatRequestSchema,
      { action: { case: "join", value: { room: "a/b", userId: "u1" } } },
      "join.room",
      "join.room: does not match regex pattern `^[A-Za-z0-9_.-]+$`",
    ],
    [
      "a join to a long room",
      chatV1.ChatRequestSchema,
      { action: { case: "join", value: { room: "r".repeat(65), userId: "u1" } } },
      "join.room",
      "join.room: must be at most 64 characters",
    ],
    [
      "a join without a user",
      chatV1.ChatRequestSchema,
      { action: { case: "join", value: { room } } },
      "join.user_id",
      "join.user_id: value is required",
    ],
    [
      "a join with a long user id",
      chatV1.ChatRequestSchema,
      { action: { case: "join", value: { room, userId: "u".repeat(129) } } },
      "join.user_id",
      "join.user_id: must be at most 128 characters",
    ],
    [
      "a send without text",
      chatV1.ChatRequestSchema,
      { action: { case: "send", value: {} } },
      "send.text",
      "send.text: value is required",
    ],
    [
      "a send with a long text",
      chatV1.ChatRequestSchema,
      { action: { case: "send", value: { text: "x".repeat(4097) } } },
      "send.text",
      "send.text: must be at most 4096 characters",
    ],
    ["a subscribe without a room", chatV1.SubscribeRequestSchema, {}, "room", "room: value is required"],
    [
      "a subscribe with a long user id",
      chatV1.SubscribeRequestSchema,
      { room, userId: "u".repeat(129) },
      "user_id",
      "user_id: must be at most 128 characters",
    ],
    [
      "a SendMessage to a bad room",
      chatV1.SendMessageRequestSchema,
      { room: "a b", userId: "u1", text: "hi" },
      "room",
      "room: does not match regex pattern `^[A-Za-z0-9_.-]+$`",
    ],
    [
      "a SendMessage without a user",
      chatV1.SendMessageRequestSchema,
      { room, text: "hi" },
      "user_id",
      "user_id: value is required",
    ],
    [
      "a SendMessage without text",
      chatV1.SendMessageRequestSchema,
      { room, userId: "u1" },
      "text",
      "text: value is required",
    ],
    [
      "a SendMessage with a long text",
      chatV1.SendMessageRequestSchema,
      { room, userId: "u1", text: "x".repeat(4097) },
      "text",
      "text: must be at most 4096 characters",
    ],
    ["a GetHistory without a room", chatV1.GetHistoryRequestSchema, {}, "room", "room: value is required"],
  ])("refuses %s with INVALID_ARGUMENT naming the field", (_, schema, request, field, message) => {
    const err = violationOf(schema, request);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err?.field).toBe(field);
    expect(err?.message).toBe(message);
    expect(toRpcStatus(err, createLogger({ name: "test", level: "silent" }), "/test").code).toBe(
      Status.INVALID_ARGUMENT,
    );
  });

  it("names every violation when they fit in a short message, the first one's field first", () => {
    const err = violationOf(chatV1.SendMessageRequestSchema, {});
    expect(err?.field).toBe("room");
    expect(err?.message).toBe("room: value is required; user_id: value is required; text: value is required");
  });

  it("names only the first violation and counts the rest when listing them all would be long", () => {
    const err = violationOf(CreateUserRequestSchema, { email: "a".repeat(300), password: "x".repeat(2000) });
    expect(err?.field).toBe("username");
    expect(err?.message).toBe("username: must be at least 3 characters (and 4 more violations)");
  });

  it("throws a rule that cannot be compiled as it is, so that it becomes INTERNAL", () => {
    // A string field carrying int32 rules: a mistake in the schema, not in the request.
    const options = create(FieldOptionsSchema);
    setExtension(
      options,
      fieldRules,
      create(FieldRulesSchema, { type: { case: "int32", value: { greaterThan: { case: "gte", value: 0 } } } }),
    );
    const registry = createFileRegistry(
      create(FileDescriptorProtoSchema, {
        name: "broken.proto",
        package: "broken",
        syntax: "proto3",
        messageType: [
          {
            name: "Request",
            field: [{ name: "name", number: 1, type: FieldDescriptorProto_Type.STRING, jsonName: "name", options }],
          },
        ],
      }),
      () => undefined,
    );
    const schema = registry.getMessage("broken.Request")!;
    expect(() => validator.validate(schema, create(schema, {}))).toThrow(
      expect.objectContaining({ name: "CompilationError" }),
    );
  });
});
