import { describe, expect, it } from "vitest";
import { generatedUsers, InputError, usersFromJsonLines } from "./bulk-users.js";

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

async function* lines(...texts: string[]) {
  yield* texts;
}

describe("generatedUsers", () => {
  it("names users <prefix>-<i> with matching emails and distinct passwords of at least 8 characters", () => {
    const users = [...generatedUsers(3, "load")];
    expect(users.map((u) => [u.username, u.email])).toEqual([
      ["load-1", "load-1@example.com"],
      ["load-2", "load-2@example.com"],
      ["load-3", "load-3@example.com"],
    ]);
    expect(new Set(users.map((u) => u.password)).size).toBe(3);
    expect(users.every((u) => u.password.length >= 8)).toBe(true);
  });
});

describe("usersFromJsonLines", () => {
  it("reads one user per line and skips blank lines", async () => {
    const users = await collect(
      usersFromJsonLines(
        lines(
          '{"username":"ann","email":"ann@example.com","password":"secret123"}',
          "",
          '  {"username":"bo","email":"bo@example.com","password":"x","extra":1}',
        ),
      ),
    );
    expect(users).toEqual([
      { username: "ann", email: "ann@example.com", password: "secret123" },
      { username: "bo", email: "bo@example.com", password: "x" },
    ]);
  });

  it.each([
    ["not json", /line 2 is not JSON/],
    ['{"username":"ann","email":"ann@example.com"}', /line 2 must be an object with string fields/],
    ["[1,2]", /line 2 must be an object/],
    ["null", /line 2 must be an object/],
  ])("names the bad line %j in an InputError", async (bad, message) => {
    const source = usersFromJsonLines(
      lines('{"username":"ann","email":"ann@example.com","password":"secret123"}', bad),
    );
    const err = await collect(source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(message);
  });
});
