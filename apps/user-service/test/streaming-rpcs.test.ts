import { status as Status, type Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { encodePageToken } from "../src/page-token.js";
import { LIST_BATCH_SIZE, NEXT_PAGE_TOKEN_KEY } from "../src/user-service.js";
import type { NewUser, UserStore } from "../src/user-store.js";
import {
  allStoredUsers,
  callError,
  collect,
  eventually,
  sleep,
  startTestService,
  storageKinds,
  type TestService,
} from "./harness.js";

function newUsers(count: number, prefix: string): NewUser[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    username: `${prefix}${i}`,
    email: `${prefix}${i}@example.com`,
    passwordHash: "scrypt$1024$8$1$c2FsdA==$a2V5",
    createdAt: 1_700_000_000 + i,
    roles: ["user"],
  }));
}

function requests(count: number, prefix: string) {
  return Array.from({ length: count }, (_, i) => ({
    username: `${prefix}${i}`,
    email: `${prefix}${i}@example.com`,
    password: "password",
  }));
}

/** A store that counts the pages ListUsers reads, to see when it stops reading. */
function countingPages(store: UserStore, counter: { pages: number }): UserStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "listPage") {
        return (after: number, limit: number) => {
          counter.pages++;
          return target.listPage(after, limit);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe.each(storageKinds)("UserService streaming RPCs (%s storage)", (storage) => {
  let t: TestService;
  afterEach(() => t?.stop());

  describe("ListUsers", () => {
    it("streams every user in creation order when page_size is 0", async () => {
      t = await startTestService({ storage });
      await t.store.createMany(newUsers(250, "all"));
      const users = await collect(t.client.listUsers({ pageSize: 0 }));
      expect(users.map((u) => u.username)).toEqual(newUsers(250, "all").map((u) => u.username));
    });

    it("pages with next-page-token so that every user is seen exactly once", async () => {
      t = await startTestService({ storage });
      await t.store.createMany(newUsers(7, "page"));
      const seen: string[] = [];
      let token = "";
      let pages = 0;
      do {
        let trailer: Metadata | undefined;
        const page = await collect(
          t.client.listUsers({ pageSize: 3, pageToken: token }, { onTrailer: (m) => (trailer = m) }),
        );
        expect(page.length).toBeLessThanOrEqual(3);
        seen.push(...page.map((u) => u.username));
        token = String(trailer?.get(NEXT_PAGE_TOKEN_KEY)[0] ?? "");
        pages++;
      } while (token !== "");
      expect(pages).toBe(3);
      expect(seen).toEqual(newUsers(7, "page").map((u) => u.username));
    });

    it("resumes after the cursor even when users before it were deleted", async () => {
      t = await startTestService({ storage });
      await t.store.createMany(newUsers(4, "gap"));
      let trailer: Metadata | undefined;
      await collect(t.client.listUsers({ pageSize: 2 }, { onTrailer: (m) => (trailer = m) }));
      await t.client.deleteUser({ id: "gap-1" });
      const rest = await collect(t.client.listUsers({ pageToken: String(trailer!.get(NEXT_PAGE_TOKEN_KEY)[0]) }));
      expect(rest.map((u) => u.username)).toEqual(["gap2", "gap3"]);
    });

    it("sends no next-page-token when the stream reached the end", async () => {
      t = await startTestService({ storage });
      await t.store.createMany(newUsers(3, "end"));
      let trailer: Metadata | undefined;
      await collect(t.client.listUsers({ pageSize: 3 }, { onTrailer: (m) => (trailer = m) }));
      expect(trailer!.get(NEXT_PAGE_TOKEN_KEY)).toEqual([]);
    });

    it("rejects a negative page_size and a forged page_token with INVALID_ARGUMENT", async () => {
      t = await startTestService({ storage });
      const negative = await callError(collect(t.client.listUsers({ pageSize: -1 })));
      expect(negative.code).toBe(Status.INVALID_ARGUMENT);
      expect(negative.details).toBe("page_size: must be greater than or equal to 0");
      for (const pageToken of ["garbage", Buffer.from("u1:-5").toString("base64url"), encodePageToken(3) + "x"]) {
        const forged = await callError(collect(t.client.listUsers({ pageToken })));
        expect(forged.code, pageToken).toBe(Status.INVALID_ARGUMENT);
        expect(forged.details).toMatch(/^page_token /);
      }
    });

    it("stops reading from storage when the client cancels after the first message (F6)", async () => {
      const counter = { pages: 0 };
      t = await startTestService({ storage, wrapStore: (s) => countingPages(s, counter) });
      // Far more than socket and HTTP/2 buffers hold, so the stream cannot finish on its own.
      const totalPages = 200;
      await t.store.createMany(newUsers(totalPages * LIST_BATCH_SIZE, "cancel"));
      for await (const user of t.client.listUsers({})) {
        expect(user.username).toBe("cancel0");
        break; // leaving the loop cancels the call
      }
      await eventually(() => t.service.server.activeCalls.size === 0);
      const pagesAtCancel = counter.pages;
      await sleep(200);
      expect(counter.pages).toBe(pagesAtCancel);
      expect(counter.pages).toBeLessThan(totalPages / 2);
      expect(t.logs()).toMatch(/"method":"\/user.UserService\/ListUsers","code":"CANCELLED"/);
    });

    it("waits on back-pressure instead of reading the whole table for a client that does not read", async () => {
      const counter = { pages: 0 };
      t = await startTestService({ storage, wrapStore: (s) => countingPages(s, counter) });
      const total = 200 * LIST_BATCH_SIZE;
      await t.store.createMany(newUsers(total, "slow"));
      const stream = t.client.listUsers({})[Symbol.asyncIterator]();
      await stream.next(); // one message read, then the client stops reading
      await sleep(500);
      const pagesWhilePaused = counter.pages;
      expect(pagesWhilePaused).toBeLessThan(200 / 2);
      let received = 1;
      while (!(await stream.next()).done) received++;
      expect(received).toBe(total);
    });
  });

  describe("CreateUsers", () => {
    it("creates every streamed user and returns them with the count", async () => {
      t = await startTestService({ storage });
      const res = await t.client.createUsers(requests(5, "bulk"));
      expect(res.count).toBe(5);
      expect(res.users.map((u) => u.username)).toEqual(["bulk0", "bulk1", "bulk2", "bulk3", "bulk4"]);
      expect(res.users.every((u) => u.roles.join() === "user" && u.id !== "")).toBe(true);
      expect((await allStoredUsers(t.store)).length).toBe(5);
    });

    it("answers count 0 for an empty stream", async () => {
      t = await startTestService({ storage });
      expect((await t.client.createUsers([])).count).toBe(0);
    });

    it("writes nothing when entry #999 of 1,000 is invalid (F7)", async () => {
      t = await startTestService({ storage });
      const batch = requests(1000, "atomic");
      batch[999] = { ...batch[999]!, email: "broken" };
      const err = await callError(t.client.createUsers(batch));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toBe("requests[999].email: must be a valid email address");
      expect(await allStoredUsers(t.store)).toEqual([]);
    });

    it("writes nothing when the client cancels after 500 of 1,000 (F7)", async () => {
      t = await startTestService({ storage });
      const controller = new AbortController();
      async function* halfThenCancel() {
        for (const [i, r] of requests(1000, "cancelled").entries()) {
          if (i === 500) {
            controller.abort();
            await sleep(50);
            return;
          }
          yield r;
        }
      }
      const err = await callError(t.client.createUsers(halfThenCancel(), { signal: controller.signal }));
      expect(err.code).toBe(Status.CANCELLED);
      await eventually(() => t.service.server.activeCalls.size === 0);
      await sleep(100);
      expect(await allStoredUsers(t.store)).toEqual([]);
    });

    it("writes nothing when one entry clashes with a stored user, and says which", async () => {
      t = await startTestService({ storage });
      await t.client.createUser({ username: "existing", email: "existing@example.com", password: "password" });
      const batch = [...requests(3, "clash"), { username: "Existing", email: "new@example.com", password: "password" }];
      const err = await callError(t.client.createUsers(batch));
      expect(err.code).toBe(Status.ALREADY_EXISTS);
      expect(err.details).toContain("username");
      expect((await allStoredUsers(t.store)).map((u) => u.username)).toEqual(["existing"]);
    });

    it("writes nothing when two entries repeat each other", async () => {
      t = await startTestService({ storage });
      const batch = [...requests(3, "twin"), { username: "twin9", email: "TWIN1@example.com", password: "password" }];
      const err = await callError(t.client.createUsers(batch));
      expect(err.code).toBe(Status.ALREADY_EXISTS);
      expect(err.details).toBe('users[3].email "twin1@example.com" repeats users[1].email');
      expect(await allStoredUsers(t.store)).toEqual([]);
    });

    it("rejects more than 1,000 users with INVALID_ARGUMENT and writes nothing", async () => {
      t = await startTestService({ storage });
      const err = await callError(t.client.createUsers(requests(1001, "many")));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toBe("at most 1000 users can be created in one call");
      expect(await allStoredUsers(t.store)).toEqual([]);
    });
  });

  describe("Chat", () => {
    it("echoes every message in order with the sender's user_id and the server's timestamp", async () => {
      t = await startTestService({ storage });
      const before = Math.floor(Date.now() / 1000);
      const sent = Array.from({ length: 5 }, (_, i) => ({ userId: "user1", text: `Message ${i}`, timestamp: 1n }));
      const echoes = await collect(t.client.chat(sent));
      const after = Math.floor(Date.now() / 1000);
      expect(echoes.map((m) => m.text)).toEqual(sent.map((m) => `Echo: ${m.text}`));
      expect(echoes.every((m) => m.userId === "user1")).toBe(true);
      for (const m of echoes) {
        expect(Number(m.timestamp)).toBeGreaterThanOrEqual(before);
        expect(Number(m.timestamp)).toBeLessThanOrEqual(after);
      }
    });

    it("answers each message before the client half-closes", async () => {
      t = await startTestService({ storage });
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      async function* oneThenWait() {
        yield { userId: "u", text: "first", timestamp: 0n };
        await gate;
      }
      const stream = t.client.chat(oneThenWait())[Symbol.asyncIterator]();
      const first = await stream.next();
      expect(first.value?.text).toBe("Echo: first");
      release();
      expect((await stream.next()).done).toBe(true);
    });
  });
});
