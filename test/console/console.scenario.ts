import t from "tap";
import type { Test } from "tap";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { baseEnv, repoRoot, runCli, startCli } from "../cli/cliProcess.js";
import type { LiveCli } from "../cli/cliProcess.js";
import { CHROMIUM, chromiumArgs } from "./browser.js";

/**
 * The console in a real headless Chromium against a real `ganglion up` (nats-server, core,
 * console) and a real worker process (examples/ts-worker). With CONSOLE_SCREENSHOTS=DIR it also
 * writes the README's screenshots there.
 */

const shots = process.env.CONSOLE_SCREENSHOTS;
const dataDir = await mkdtemp(join(tmpdir(), "ganglion-console-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

const bus: LiveCli = await startCli(["up", "--port", "0", "--console-port", "0", "--data-dir", dataDir]);
t.teardown(() => bus.stop());
const lineAfter = (prefix: string) => {
  const l = bus.lines().find((x) => x.startsWith(prefix));
  if (!l) throw new Error(`no line starting with ${prefix}: ${bus.lines().join("\n")}`);
  return l.slice(prefix.length).trim();
};
const operatorUrl = lineAfter("console: ");
const viewerUrl = lineAfter("console (read-only, may submit tasks): ");
const origin = new URL(operatorUrl).origin;

const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs });
t.teardown(() => browser.close());

const cli = async (args: string[]) => {
  const r = await runCli([...args, "--data-dir", dataDir]);
  if (r.code !== 0) throw new Error(`ganglion ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

const shot = async (page: Page, name: string) => {
  if (!shots) return;
  await mkdir(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `console-${name}.png`) });
};

/** A new browser context (its own cookies) logged in with `url`. */
const login = async (url: string) => {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  const page = await ctx.newPage();
  const res = await page.goto(url);
  return { ctx, page, status: res?.status() };
};

const apiPost = (page: Page, path: string, body: unknown, headers: Record<string, string> = { "x-ganglion-console": "1" }) =>
  page.evaluate(
    async ([path, body, headers]) => {
      const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { ok: boolean; error?: { message: string } } };
    },
    [path, body, headers] as const,
  );

const op = await login(operatorUrl);
t.teardown(() => op.ctx.close());

t.test("nothing is reachable without a session; the printed URL logs in once", async (t) => {
  const ctx = await browser.newContext();
  t.teardown(() => ctx.close());
  const page = await ctx.newPage();
  const root = await page.goto(`${origin}/`);
  t.equal(root?.status(), 401, "the page needs a session");
  t.match(await page.textContent("body"), /login URL/);
  t.equal((await page.goto(`${origin}/assets/x.js`))?.status(), 401, "so do its files");
  t.equal((await page.goto(`${origin}/api/session`))?.status(), 401, "and the API");
  t.equal((await page.goto(`${origin}/login?token=${"A".repeat(43)}`))?.status(), 401, "a made-up token is refused");

  t.equal(op.status, 200, "the printed URL logs in");
  t.equal(new URL(op.page.url()).pathname, "/", "and leaves the token out of the address bar");
  await op.page.getByRole("heading", { name: "Overview" }).waitFor();
  t.match(await op.ctx.cookies(), [{ name: "ganglion_console", httpOnly: true, sameSite: "Strict" }]);
  t.equal(await op.page.textContent("#who"), "operator");

  const again = await login(operatorUrl);
  t.teardown(() => again.ctx.close());
  t.equal(again.status, 401, "the same URL does not log in twice");

  const foreign = await apiPost(op.page, "/api/call/views.totals", {}, {});
  t.equal(foreign.status, 403, "a POST without the console's header (a cross-site form) is refused");
  const r = await op.page.request.get(`${origin}/api/session`, { headers: { host: `evil.example:${new URL(origin).port}` } });
  t.equal(r.status(), 421, "another Host (DNS rebinding) is refused");
});

t.test("an operator sees a pending plugin and approves its capability", async (t) => {
  await cli(["plugin", "install", join(repoRoot, "examples/ts-worker/manifest.yaml")]);
  const page = op.page;
  await page.goto(`${origin}/#/plugins`);
  await page.locator("a.plugin-link", { hasText: "wordcount" }).click();
  await page.getByRole("heading", { name: "Plugin wordcount" }).waitFor();
  await page.locator(".badge.s-pending").first().waitFor();
  t.match(await page.textContent("main"), /topic\.publish:text\.counted/, "the pending capability is listed");
  await shot(page, "plugin-pending");
  await page.getByRole("button", { name: "Approve selected" }).click();
  await page.locator(".facts .badge.s-active").waitFor({ timeout: 30_000 });
  const shown = JSON.parse(await cli(["plugin", "show", "wordcount", "--json"])) as { plugin: { status: string; granted: string[] } };
  t.equal(shown.plugin.status, "active");
  t.same(shown.plugin.granted, ["topic.publish:text.counted"], "granted through the same endpoint as the CLI");
});

t.test("a read-only session cannot approve: the server refuses it", async (t) => {
  const viewer = await login(viewerUrl);
  t.teardown(() => viewer.ctx.close());
  await viewer.page.getByRole("heading", { name: "Overview" }).waitFor();
  t.equal(await viewer.page.textContent("#who"), "read-only");
  const approve = await apiPost(viewer.page, "/api/call/plugin.approve", { pluginId: "wordcount", capabilities: "all" });
  t.equal(approve.status, 403, "plugin.approve is refused");
  t.match(approve.body, { ok: false, error: { message: /viewer session may not call plugin\.approve/ } });
  const disable = await apiPost(viewer.page, "/api/call/plugin.disable", { pluginId: "wordcount" });
  t.equal(disable.status, 403, "so is disable");
  const creds = await apiPost(op.page, "/api/call/plugin.creds", { pluginId: "wordcount" });
  t.equal(creds.status, 403, "credentials are never handed to a browser, even an operator's");
  const invite = await apiPost(viewer.page, "/api/invite", { kind: "operator" });
  t.equal(invite.status, 403, "a viewer cannot invite an operator");
  const reads = await apiPost(viewer.page, "/api/call/views.plugins", {});
  t.equal(reads.status, 200, "reads go through (over the OPS account)");
  await viewer.page.goto(`${origin}/#/plugins/wordcount`);
  await viewer.page.getByRole("heading", { name: "Plugin wordcount" }).waitFor();
  await viewer.page.locator(".facts .badge").waitFor();
  t.equal(await viewer.page.getByRole("button", { name: "Disable" }).count(), 0, "and the page offers no operator action");
});

const worker = async (t: Test) => {
  const creds = join(dataDir, "wordcount.creds");
  await cli(["plugin", "creds", "wordcount", "-o", creds]);
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "examples/ts-worker/worker.ts")], {
    cwd: repoRoot,
    env: baseEnv({ WORDCOUNT_CREDS: creds, NATS_URL: bus.url, GANGLION_LOG_LEVEL: "warn" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.teardown(() => void child.kill("SIGTERM"));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("running")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the worker exited (${code}) before running`)));
  });
};

t.test("the generated form for text.wordcount submits, and the result appears live", async (t) => {
  await worker(t);
  const page = op.page;
  await page.goto(`${origin}/#/try/text.wordcount`);
  const text = page.locator('form.params [name="text"]');
  await text.fill("the quick brown fox jumps");
  await page.getByRole("button", { name: "Submit" }).click();
  await page.locator(".outcome .badge.s-completed").waitFor({ timeout: 60_000 });
  t.match(await page.textContent(".outcome .result"), /"words": 5/);
  await shot(page, "try-it");
  await page.goto(`${origin}/#/overview`);
  await page.locator(".card", { hasText: "Workers online" }).locator(".big", { hasText: "1" }).waitFor({ timeout: 30_000 });
  await page.locator(".chart rect").first().waitFor();
  await shot(page, "overview");
});

const SLEEPY = `id: sleepy
version: 1.0.0
description: A plugin no worker serves (its tasks wait)
provides:
  - type: demo.sleep
    description: Sleep a while
    params:
      type: object
      required: [seconds, mode]
      properties:
        seconds: { type: integer, minimum: 1, maximum: 60, default: 5, description: How long to sleep }
        mode: { type: string, enum: [light, deep], default: light }
        snore: { type: boolean, description: Whether to snore }
        tags: { type: array, items: { type: string } }
        pillow: { type: object, properties: { soft: { type: boolean } } }
      additionalProperties: false
    result: { type: object }
    timeout: 30s
`;

t.test("a form with bounds is validated in the page; a cancelled task shows its timeline", async (t) => {
  const manifest = join(dataDir, "sleepy.yaml");
  await writeFile(manifest, SLEEPY);
  await cli(["plugin", "install", manifest, "--yes"]);
  const page = op.page;
  await page.goto(`${origin}/#/try/demo.sleep`);
  const seconds = page.locator('form.params [name="seconds"]');
  t.equal(await seconds.inputValue(), "5", "the default is filled in");
  t.equal(await page.locator('form.params select[name="mode"] option').count(), 2, "the enum is a select");
  t.equal(await page.locator('form.params input[type="checkbox"][name="snore"]').count(), 1, "the boolean a checkbox");
  t.match(await page.textContent("form.params"), /How long to sleep/, "descriptions are help text");
  await page.locator("form.params fieldset.object").waitFor();
  await page.getByRole("button", { name: "add item" }).click();
  await page.locator('form.params [name="tags[]"]').fill("nap");
  await seconds.fill("99");
  await page.getByRole("button", { name: "Submit" }).click();
  await page.locator(".errors li").first().waitFor();
  t.match(await page.textContent(".errors"), /seconds must be <= 60/, "ajv refuses it in the page");
  const audit = await apiPost(page, "/api/call/audit.query", { type: "task.submitted" });
  t.match(audit.body, { ok: true, result: { events: [{ data: { taskType: "text.wordcount" } }] } });
  t.equal(JSON.stringify(audit.body).includes("demo.sleep"), false, "and nothing was submitted");
  await seconds.fill("3");
  await page.getByRole("button", { name: "Submit" }).click();
  await page.locator(".outcome a.task-link").waitFor();
  await shot(page, "try-form");
  await page.locator(".outcome a.task-link").click();
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.locator(".task-status .badge.s-cancelled").waitFor({ timeout: 30_000 });
  await page.locator('.timeline li[data-type="task.cancelled"]').waitFor();
  const types = await page.locator(".timeline li .type").allTextContents();
  t.equal(types[0], "task.submitted");
  t.equal(types.at(-1), "task.cancelled", `the timeline: ${types.join(", ")}`);
  t.match(await page.textContent(".timeline"), /console:operator:/, "the actor names the console session");
  await shot(page, "task");
  await page.goto(`${origin}/#/tasks`);
  await page.locator("a.task-link").nth(1).waitFor();
  await shot(page, "tasks");
  await page.goto(`${origin}/#/audit`);
  await page.locator("table tbody tr").nth(3).waitFor();
  await shot(page, "audit");
});
