import { expect, it } from "vitest";

it("passes before", () => expect(1).toBe(1));
it("exits", () => {
  process.exit(0);
});
it("passes after", () => expect(1).toBe(1));
