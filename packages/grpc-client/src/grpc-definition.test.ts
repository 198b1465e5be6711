import { create } from "@bufbuild/protobuf";
import { ListUsersRequestSchema, UserSchema, UserService } from "@polyrpc/proto";
import { describe, expect, it } from "vitest";
import { grpcServiceDefinition } from "./grpc-definition.js";

describe("grpcServiceDefinition", () => {
  const definition = grpcServiceDefinition(UserService);

  it("has the path and streaming shape of every method", () => {
    const shape = Object.fromEntries(
      Object.entries(definition).map(([name, m]) => [name, [m.path, m.requestStream, m.responseStream]]),
    );
    expect(shape).toEqual({
      getUser: ["/user.UserService/GetUser", false, false],
      createUser: ["/user.UserService/CreateUser", false, false],
      updateUser: ["/user.UserService/UpdateUser", false, false],
      deleteUser: ["/user.UserService/DeleteUser", false, false],
      listUsers: ["/user.UserService/ListUsers", false, true],
      createUsers: ["/user.UserService/CreateUsers", true, false],
      chat: ["/user.UserService/Chat", true, true],
    });
  });

  it("serialises with protobuf-es, accepting messages and plain init objects alike", () => {
    const { responseSerialize, responseDeserialize } = definition.getUser!;
    const user = create(UserSchema, { id: "1", username: "ada", createdAt: 1700000000n, roles: ["user"] });
    const fromMessage = responseSerialize(user);
    const fromInit = responseSerialize({ id: "1", username: "ada", createdAt: 1700000000n, roles: ["user"] });
    expect(fromInit.equals(fromMessage)).toBe(true);
    expect(responseDeserialize(fromMessage)).toEqual(user);
  });

  it("decodes the documentation's wire bytes for ListUsersRequest", () => {
    // page_size = 2 (field 1, varint), page_token = "t" (field 2, length-delimited)
    const bytes = Buffer.from([0x08, 0x02, 0x12, 0x01, 0x74]);
    expect(definition.listUsers!.requestDeserialize(bytes)).toEqual(
      create(ListUsersRequestSchema, { pageSize: 2, pageToken: "t" }),
    );
  });
});
