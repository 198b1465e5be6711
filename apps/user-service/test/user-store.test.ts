import { CancelledError, DeadlineExceededError } from "@polyrpc/server-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuplicateUserError, UserNotFoundError, type NewUser, type UserStore } from "../src/user-store.js";
import { allStoredUsers, openTestStore, storageKinds } from "./harness.js";

let next = 0;
function newUser(name: string, overrides: Partial<NewUser> = {}): NewUser {
  return {
    id: `id-${name}-${++next}`,
    username: name,
    email: `${name}@example.com`,
    passwordHash: "scrypt$1024$8$1$c2FsdA==$a2V5",
    createdAt: 1_700_000_000 + next,
    roles: ["user"],
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe.each(storageKinds)("the UserStore (%s storage)", (storage) => {
  let store: UserStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store, close } = await openTestStore(storage));
  });
  afterAll(() => close());

  it("creates a user with its seq, Unix-seconds created_at and roles, and reads it back", async () => {
    const user = newUser("alpha", { createdAt: 1_712_345_678, roles: ["user", "admin"] });
    const created = await store.create(user);
    expect(created).toEqual({ ...user, seq: expect.any(Number) });
    expect(await store.get(user.id)).toEqual(created);
  });

  it("refuses a username or email taken in any letter case, naming the field, and writes nothing", async () => {
    await store.create(newUser("bravo"));
    const before = await allStoredUsers(store);
    const name = await rejection(store.create(newUser("x", { username: "BRAVO", email: "new-bravo@example.com" })));
    expect(name).toBeInstanceOf(DuplicateUserError);
    expect(name).toMatchObject({
      field: "username",
      value: "BRAVO",
      message: 'a user with username "BRAVO" already exists',
    });
    const email = await rejection(store.create(newUser("bravo2", { email: "Bravo@Example.com" })));
    expect(email).toMatchObject({ field: "email", value: "Bravo@Example.com" });
    expect(await allStoredUsers(store)).toEqual(before);
  });

  it("creates a batch all or nothing, in order", async () => {
    const batch = [newUser("c0"), newUser("c1"), newUser("c2")];
    const created = await store.createMany(batch);
    expect(created.map((u) => u.username)).toEqual(["c0", "c1", "c2"]);
    expect(created[0]!.seq).toBeLessThan(created[1]!.seq);
    expect(created[1]!.seq).toBeLessThan(created[2]!.seq);

    const before = await allStoredUsers(store);
    const clash = await rejection(store.createMany([newUser("d0"), newUser("d1", { email: "C1@example.com" })]));
    expect(clash).toMatchObject({ name: "DuplicateUserError", field: "email", value: "C1@example.com" });
    expect(await allStoredUsers(store)).toEqual(before);
    expect(await store.createMany([])).toEqual([]);
  });

  it("updates only the given fields, re-checks uniqueness and knows unknown ids", async () => {
    const user = await store.create(newUser("echo"));
    expect(await store.update(user.id, { username: "echo2" })).toEqual({ ...user, username: "echo2" });
    expect(await store.update(user.id, {})).toEqual({ ...user, username: "echo2" });
    expect(await rejection(store.update(user.id, { email: "ALPHA@example.com" }))).toMatchObject({
      field: "email",
      value: "ALPHA@example.com",
    });
    expect(await rejection(store.update("nobody", { username: "x" }))).toBeInstanceOf(UserNotFoundError);
    expect(await rejection(store.get("nobody"))).toBeInstanceOf(UserNotFoundError);
  });

  it("deletes a user once, and pages by seq past deleted users", async () => {
    const batch = await store.createMany([newUser("f0"), newUser("f1"), newUser("f2"), newUser("f3")]);
    await store.delete(batch[1]!.id);
    expect(await rejection(store.delete(batch[1]!.id))).toBeInstanceOf(UserNotFoundError);
    const page = await store.listPage(batch[0]!.seq, 2);
    expect(page.map((u) => u.username)).toEqual(["f2", "f3"]);
    expect(await store.listPage(batch[3]!.seq, 10)).toEqual([]);
  });

  it("refuses work for a call that was cancelled or is past its deadline, writing nothing", async () => {
    const before = await allStoredUsers(store);
    const controller = new AbortController();
    controller.abort();
    const cancelled = await rejection(store.createMany([newUser("g0")], { signal: controller.signal }));
    expect(cancelled).toBeInstanceOf(CancelledError);
    const late = await rejection(store.create(newUser("g1"), { deadline: new Date(Date.now() - 1) }));
    expect(late).toBeInstanceOf(DeadlineExceededError);
    expect(await rejection(store.get(before[0]!.id, { signal: controller.signal }))).toBeInstanceOf(CancelledError);
    expect(await allStoredUsers(store)).toEqual(before);
  });
});
