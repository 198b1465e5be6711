import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../src/password.js";
import { allStoredUsers, callError, startTestService, storageKinds, type TestService } from "./harness.js";

describe.each(storageKinds)("UserService unary RPCs (%s storage)", (storage) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ storage });
  });
  afterAll(() => t.stop());

  describe("CreateUser", () => {
    it("creates a user with an id, Unix-seconds created_at and the default role", async () => {
      const before = Math.floor(Date.now() / 1000);
      const user = await t.client.createUser({
        username: "ada.lovelace",
        email: "ada@example.com",
        password: "correct horse",
      });
      const after = Math.floor(Date.now() / 1000);
      expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(user.username).toBe("ada.lovelace");
      expect(user.email).toBe("ada@example.com");
      expect(Number(user.createdAt)).toBeGreaterThanOrEqual(before);
      expect(Number(user.createdAt)).toBeLessThanOrEqual(after);
      expect(user.roles).toEqual(["user"]);
    });

    it("accepts what the documentation's clients send (user0, password)", async () => {
      const user = await t.client.createUser({ username: "user0", email: "user0@example.com", password: "password" });
      expect(user.username).toBe("user0");
    });

    it("stores the password only as a salted scrypt hash and never returns it", async () => {
      const a = await t.client.createUser({
        username: "salt-a",
        email: "salt-a@example.com",
        password: "same-password",
      });
      const b = await t.client.createUser({
        username: "salt-b",
        email: "salt-b@example.com",
        password: "same-password",
      });
      expect(Object.keys(a)).not.toContain("password");
      const stored = (await allStoredUsers(t.store)).filter((u) => u.id === a.id || u.id === b.id);
      expect(stored).toHaveLength(2);
      for (const row of stored) {
        expect(row.passwordHash).toMatch(/^scrypt\$\d+\$8\$1\$/);
        expect(row.passwordHash).not.toContain("same-password");
        expect(await verifyPassword("same-password", row.passwordHash)).toBe(true);
        expect(await verifyPassword("other-password", row.passwordHash)).toBe(false);
      }
      expect(stored[0]!.passwordHash).not.toBe(stored[1]!.passwordHash);
    });

    it.each([
      [{ username: "ab" }, "username"],
      [{ username: "x".repeat(33) }, "username"],
      [{ username: "has space" }, "username"],
      [{ username: "emoji😀" }, "username"],
      [{ email: "not-an-email" }, "email"],
      [{ email: "a@b" }, "email"],
      [{ email: "two@@example.com" }, "email"],
      [{ email: "" }, "email"],
      [{ password: "short" }, "password"],
      [{ password: "" }, "password"],
    ])("rejects %o with INVALID_ARGUMENT naming %s, writing nothing", async (override, field) => {
      const before = (await allStoredUsers(t.store)).length;
      const err = await callError(
        t.client.createUser({
          username: "valid_name",
          email: "valid@example.com",
          password: "long enough",
          ...override,
        }),
      );
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toMatch(new RegExp(`^${field}: `));
      expect((await allStoredUsers(t.store)).length).toBe(before);
    });

    it("rejects a taken username or email, in any letter case, with ALREADY_EXISTS", async () => {
      await t.client.createUser({ username: "grace", email: "grace@example.com", password: "password" });
      const before = (await allStoredUsers(t.store)).length;
      const sameName = await callError(
        t.client.createUser({ username: "GRACE", email: "other@example.com", password: "password" }),
      );
      expect(sameName.code).toBe(Status.ALREADY_EXISTS);
      expect(sameName.details).toContain("username");
      const sameEmail = await callError(
        t.client.createUser({ username: "grace2", email: "Grace@Example.com", password: "password" }),
      );
      expect(sameEmail.code).toBe(Status.ALREADY_EXISTS);
      expect(sameEmail.details).toContain("email");
      expect((await allStoredUsers(t.store)).length).toBe(before);
    });
  });

  describe("GetUser", () => {
    it("returns the stored user", async () => {
      const created = await t.client.createUser({
        username: "getme",
        email: "getme@example.com",
        password: "password",
      });
      const got = await t.client.getUser({ id: created.id });
      expect(got).toEqual(created);
    });

    it("answers INVALID_ARGUMENT for an empty id", async () => {
      const err = await callError(t.client.getUser({ id: "" }));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toBe("id: value is required");
    });

    it("answers NOT_FOUND naming the unknown id", async () => {
      const err = await callError(t.client.getUser({ id: "42" }));
      expect(err.code).toBe(Status.NOT_FOUND);
      expect(err.details).toBe('user "42" not found');
    });
  });

  describe("UpdateUser", () => {
    it("changes only the fields that are present", async () => {
      const u = await t.client.createUser({ username: "before", email: "before@example.com", password: "password" });
      const renamed = await t.client.updateUser({ id: u.id, username: "after" });
      expect(renamed).toMatchObject({
        id: u.id,
        username: "after",
        email: "before@example.com",
        createdAt: u.createdAt,
      });
      const moved = await t.client.updateUser({ id: u.id, email: "after@example.com" });
      expect(moved).toMatchObject({ username: "after", email: "after@example.com" });
      const untouched = await t.client.updateUser({ id: u.id });
      expect(untouched).toEqual(moved);
      expect(await t.client.getUser({ id: u.id })).toEqual(moved);
    });

    it("re-checks validity and leaves the user unchanged on failure", async () => {
      const u = await t.client.createUser({ username: "stable", email: "stable@example.com", password: "password" });
      const badEmail = await callError(t.client.updateUser({ id: u.id, username: "stable2", email: "nope" }));
      expect(badEmail.code).toBe(Status.INVALID_ARGUMENT);
      expect(badEmail.details).toMatch(/^email: /);
      const emptyName = await callError(t.client.updateUser({ id: u.id, username: "" }));
      expect(emptyName.code).toBe(Status.INVALID_ARGUMENT);
      expect(await t.client.getUser({ id: u.id })).toEqual(u);
    });

    it("re-checks uniqueness with ALREADY_EXISTS", async () => {
      const a = await t.client.createUser({ username: "taken", email: "taken@example.com", password: "password" });
      const b = await t.client.createUser({ username: "free", email: "free@example.com", password: "password" });
      const err = await callError(t.client.updateUser({ id: b.id, username: "Taken" }));
      expect(err.code).toBe(Status.ALREADY_EXISTS);
      const err2 = await callError(t.client.updateUser({ id: b.id, email: a.email }));
      expect(err2.code).toBe(Status.ALREADY_EXISTS);
      expect(await t.client.getUser({ id: b.id })).toEqual(b);
    });

    it("answers NOT_FOUND for an unknown id and INVALID_ARGUMENT for an empty one", async () => {
      const missing = await callError(t.client.updateUser({ id: "missing", username: "whoever" }));
      expect(missing.code).toBe(Status.NOT_FOUND);
      expect(missing.details).toBe('user "missing" not found');
      const empty = await callError(t.client.updateUser({ id: "", username: "whoever" }));
      expect(empty.code).toBe(Status.INVALID_ARGUMENT);
    });
  });

  describe("DeleteUser", () => {
    it("deletes the user and answers success", async () => {
      const u = await t.client.createUser({ username: "doomed", email: "doomed@example.com", password: "password" });
      expect(await t.client.deleteUser({ id: u.id })).toMatchObject({ success: true });
      expect((await callError(t.client.getUser({ id: u.id }))).code).toBe(Status.NOT_FOUND);
    });

    it("answers NOT_FOUND for an unknown id and INVALID_ARGUMENT for an empty one", async () => {
      const missing = await callError(t.client.deleteUser({ id: "ghost" }));
      expect(missing.code).toBe(Status.NOT_FOUND);
      expect(missing.details).toBe('user "ghost" not found');
      expect((await callError(t.client.deleteUser({ id: "" }))).code).toBe(Status.INVALID_ARGUMENT);
    });
  });
});
