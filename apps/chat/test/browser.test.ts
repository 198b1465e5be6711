import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatEnvSchema } from "../src/config.js";
import { startChat, type RunningChat } from "../src/server.js";
import { startUserServiceProcess, type UserServiceProcess } from "./harness.js";

/** Debian's Chromium, started the way this sandbox allows (no sandbox, no network chatter). */
const CHROMIUM = "/usr/bin/chromium";
const screenshotDir = join(import.meta.dirname, "../test-results");

describe("the browser chat page, in headless Chromium", () => {
  let userService: UserServiceProcess;
  let chat: RunningChat;
  let browser: Browser;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    userService = await startUserServiceProcess();
    alice = await userService.createUser("alice");
    bob = await userService.createUser("bob");
    chat = await startChat(
      chatEnvSchema.parse({
        POLYRPC_ENV: "development",
        METRICS_ENABLED: "false",
        HOST: "127.0.0.1",
        PORT: "0",
        DATABASE_PATH: ":memory:",
        USER_SERVICE_ADDRESS: userService.target,
        LOG_LEVEL: "silent",
      }),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await chat?.stop();
    await userService?.kill();
  });

  async function open(user: string, protocol: "connect" | "grpc-web"): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${chat.server.baseUrl}/?room=lobby&user=${user}&protocol=${protocol}`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("In room lobby"));
    expect(errors).toEqual([]);
    return page;
  }

  async function send(page: Page, text: string) {
    await page.fill("#text", text);
    await page.click("#send");
  }

  const texts = (page: Page) => page.$$eval("#messages li.message .text", (items) => items.map((i) => i.textContent));

  it("lets two pages in one room see each other's messages, over Connect and gRPC-Web", async () => {
    await chat.log.append("lobby", alice, "earlier message");
    const pageA = await open(alice, "connect");
    const pageB = await open(bob, "grpc-web");

    // History first, then live messages in both directions, in the same order on both pages.
    expect(await texts(pageA)).toEqual(["earlier message"]);
    await send(pageA, "hello from alice");
    await pageB.waitForSelector("#messages li.message:has-text('hello from alice')");
    await send(pageB, "hi alice, bob here");
    await pageA.waitForSelector("#messages li.message:has-text('hi alice, bob here')");
    await pageB.waitForFunction(() => document.querySelectorAll("#messages li.message").length === 3);

    const expected = ["earlier message", "hello from alice", "hi alice, bob here"];
    expect(await texts(pageA)).toEqual(expected);
    expect(await texts(pageB)).toEqual(expected);
    const sequences = await pageB.$$eval("#messages li.message", (items) =>
      items.map((i) => i.getAttribute("data-sequence")),
    );
    expect(sequences).toEqual(["1", "2", "3"]);
    await pageA.waitForSelector(`#messages li.presence:has-text('${bob} joined')`);

    mkdirSync(screenshotDir, { recursive: true });
    await pageA.screenshot({ path: join(screenshotDir, "chat-alice.png"), fullPage: true });
    await pageB.screenshot({ path: join(screenshotDir, "chat-bob.png"), fullPage: true });
  });

  it("tells the user when the user id is unknown", async () => {
    const page = await browser.newPage();
    await page.goto(`${chat.server.baseUrl}/?room=lobby&user=nobody`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Cannot join"));
    expect(await page.textContent("#status")).toContain('user "nobody" not found');
  });
});
