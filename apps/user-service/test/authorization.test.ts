import { Metadata, status as Status } from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callError, startTestService, storageKinds, type TestService } from "./harness.js";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const ISSUER = "polyrpc-test";
const AUDIENCE = "polyrpc";

/** An HS256 token the service accepts, for `subject` with `roles`. */
async function bearer(subject: string, roles: readonly string[] = ["user"]): Promise<{ metadata: Metadata }> {
  const token = await new SignJWT({ roles: [...roles] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(SECRET));
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return { metadata };
}

describe.each(storageKinds)("UpdateUser with authentication on (%s storage)", (storage) => {
  let t: TestService;
  let alice: { id: string; email: string };
  let bob: { id: string; email: string };

  beforeAll(async () => {
    t = await startTestService({
      storage,
      env: { AUTH_MODE: "hs256", AUTH_HS256_SECRET: SECRET, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE },
    });
    const admin = await bearer("bootstrap", ["admin"]);
    const create = (name: string) =>
      t.client.createUser({ username: name, email: `${name}@example.com`, password: "password" }, admin);
    alice = await create("alice");
    bob = await create("bob");
  });
  afterAll(() => t?.stop());

  it("lets a user change itself", async () => {
    const updated = await t.client.updateUser({ id: alice.id, email: "alice@new.example.com" }, await bearer(alice.id));
    expect(updated.email).toBe("alice@new.example.com");
  });

  it.each([
    ["another user's token", () => bearer(alice.id)],
    ["a token whose subject is no user", () => bearer("no-such-user")],
  ])("refuses %s with PERMISSION_DENIED and changes nothing", async (_name, token) => {
    const err = await callError(t.client.updateUser({ id: bob.id, username: "mallory" }, await token()));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toBe("a user may update only itself; updating another user needs role admin");
    const stored = await t.store.get(bob.id);
    expect({ username: stored.username, email: stored.email }).toEqual({ username: "bob", email: bob.email });
  });

  it("lets an admin change anyone", async () => {
    const updated = await t.client.updateUser({ id: bob.id, username: "robert" }, await bearer("ops", ["admin"]));
    expect(updated.username).toBe("robert");
  });

  it("still needs a token at all", async () => {
    const err = await callError(t.client.updateUser({ id: bob.id, username: "nobody" }));
    expect(err.code).toBe(Status.UNAUTHENTICATED);
  });
});
