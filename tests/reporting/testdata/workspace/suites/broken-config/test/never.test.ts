import { expect, it } from "vitest";

it("never runs", () => expect(1).toBe(1));
