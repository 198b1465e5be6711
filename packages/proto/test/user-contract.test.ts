import { ScalarType } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { file_user_user, UserService } from "../src/index.js";

// The contract exactly as the documentation publishes it. The Go and Python stubs in the docs are
// compiled from it, so any difference here is a wire break for somebody.
const documentedMessages: Record<string, [name: string, no: number, type: string, label?: string][]> = {
  User: [
    ["id", 1, "string"],
    ["username", 2, "string"],
    ["email", 3, "string"],
    ["created_at", 4, "int64"],
    ["roles", 5, "string", "repeated"],
  ],
  GetUserRequest: [["id", 1, "string"]],
  CreateUserRequest: [
    ["username", 1, "string"],
    ["email", 2, "string"],
    ["password", 3, "string"],
  ],
  UpdateUserRequest: [
    ["id", 1, "string"],
    ["username", 2, "string", "optional"],
    ["email", 3, "string", "optional"],
  ],
  DeleteUserRequest: [["id", 1, "string"]],
  DeleteUserResponse: [["success", 1, "bool"]],
  ListUsersRequest: [
    ["page_size", 1, "int32"],
    ["page_token", 2, "string"],
  ],
  CreateUsersResponse: [
    ["users", 1, "user.User", "repeated"],
    ["count", 2, "int32"],
  ],
  ChatMessage: [
    ["user_id", 1, "string"],
    ["text", 2, "string"],
    ["timestamp", 3, "int64"],
  ],
};

const documentedMethods: [name: string, input: string, output: string, kind: string][] = [
  ["GetUser", "GetUserRequest", "User", "unary"],
  ["CreateUser", "CreateUserRequest", "User", "unary"],
  ["UpdateUser", "UpdateUserRequest", "User", "unary"],
  ["DeleteUser", "DeleteUserRequest", "DeleteUserResponse", "unary"],
  ["ListUsers", "ListUsersRequest", "User", "server_streaming"],
  ["CreateUsers", "CreateUserRequest", "CreateUsersResponse", "client_streaming"],
  ["Chat", "ChatMessage", "ChatMessage", "bidi_streaming"],
];

describe("user/user.proto", () => {
  it("keeps the documented package and service name", () => {
    expect(file_user_user.proto.package).toBe("user");
    expect(UserService.typeName).toBe("user.UserService");
  });

  it("keeps every documented method with its types and streaming shape", () => {
    const actual = UserService.methods.map((m) => [m.name, m.input.name, m.output.name, m.methodKind]);
    expect(actual).toEqual(documentedMethods);
  });

  it("keeps every documented message, field name, number, type and label", () => {
    for (const [messageName, fields] of Object.entries(documentedMessages)) {
      const message = file_user_user.messages.find((m) => m.name === messageName);
      expect(message, messageName).toBeDefined();
      const actual = message!.fields
        .filter((f) => fields.some(([, no]) => no === f.number))
        .map((f) => {
          const type =
            f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar")
              ? ScalarType[f.scalar!].toLowerCase()
              : f.message!.typeName;
          const label = f.fieldKind === "list" ? "repeated" : f.proto.proto3Optional ? "optional" : undefined;
          return label ? [f.name, f.number, type, label] : [f.name, f.number, type];
        });
      expect(actual, messageName).toEqual(fields);
    }
  });
});
