import { describe, expect, it, vi } from "vitest";
import { racing } from "../src/racing.js";

describe("racing: promise after promise against one stop", () => {
  it("settles with each promise while the stop has not rejected", async () => {
    const untilStopped = racing(new Promise<never>(() => {}));
    expect(await untilStopped(Promise.resolve(1))).toBe(1);
    await expect(untilStopped(Promise.reject(new Error("handler failed")))).rejects.toThrow("handler failed");
    expect(await untilStopped(new Promise((resolve) => setTimeout(() => resolve("late"), 10)))).toBe("late");
  });

  it("rejects a pending promise with the stop's error, and every later one at once", async () => {
    let stop: (error: Error) => void = () => {};
    const untilStopped = racing(new Promise<never>((_, reject) => (stop = reject)));
    const pending = untilStopped(new Promise(() => {}));
    stop(new Error("ended by the server"));
    await expect(pending).rejects.toThrow("ended by the server");
    await expect(untilStopped(Promise.resolve(2))).rejects.toThrow("ended by the server");
    // A promise raced after the stop is still handled: its rejection is not unhandled.
    await expect(untilStopped(Promise.reject(new Error("ignored")))).rejects.toThrow("ended by the server");
  });

  it("lets a promise that settled first win over a stop that comes after", async () => {
    let stop: (error: Error) => void = () => {};
    const untilStopped = racing(new Promise<never>((_, reject) => (stop = reject)));
    const first = untilStopped(Promise.resolve("first"));
    await expect(first).resolves.toBe("first");
    stop(new Error("too late"));
    await expect(untilStopped(new Promise(() => {}))).rejects.toThrow("too late");
  });

  it("subscribes to the stop once, however many promises it races", async () => {
    // Promise.race per promise would leave one reaction on the stop for each until it settles.
    const stop = new Promise<never>(() => {});
    const then = vi.spyOn(stop, "then");
    const untilStopped = racing(stop);
    for (let i = 0; i < 100; i++) expect(await untilStopped(Promise.resolve(i))).toBe(i);
    expect(then).toHaveBeenCalledTimes(1);
  });
});
