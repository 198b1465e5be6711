import { expect, it } from "vitest";

throw new Error("a module this file imports is broken");

it("never registered", () => expect(1).toBe(1));
