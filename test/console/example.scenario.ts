import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startCli } from "../cli/cliProcess.js";
import { CHROMIUM, chromiumArgs } from "./browser.js";

/**
 * The README's first steps as a new user takes them: `ganglion up --example`, open the printed
 * URL, try the example plugin from its form, and watch the task complete, in headless Chromium.
 */

const dataDir = await mkdtemp(join(tmpdir(), "ganglion-example-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

t.test("up --example: the printed URL opens the form of text.wordcount, and a submission completes live", async (t) => {
  const bus = await startCli(["up", "--example", "--port", "0", "--console-port", "0", "--data-dir", dataDir]);
  t.teardown(() => bus.stop());
  const line = bus.lines().find((l) => l.startsWith("console: "));
  t.ok(line, bus.lines().join("\n"));
  t.ok(
    bus.lines().some((l) => l.startsWith("example: ")),
    "the example is announced",
  );
  const url = line!.slice("console: ".length);
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/login\?token=[A-Za-z0-9_-]{43}#\/try\/text\.wordcount$/);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(url);
  t.equal(new URL(page.url()).hash, "#/try/text.wordcount", "the login lands on the form");
  await page.locator('form.params [name="text"]').fill("hello from the console");
  await page.getByRole("button", { name: "Submit" }).click();
  // No worker may be connected yet when the form is first submitted: the task waits for it.
  await page.locator(".outcome .badge.s-completed").waitFor({ timeout: 90_000 });
  t.match(await page.textContent(".outcome .result"), /"words": 4/);
});
