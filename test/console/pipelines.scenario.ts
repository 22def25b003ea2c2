import t from "tap";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { repoRoot, runCli, startCli } from "../cli/cliProcess.js";
import type { LiveCli } from "../cli/cliProcess.js";
import { CHROMIUM, chromiumArgs } from "./browser.js";

/**
 * The Pipelines page in a real headless Chromium against a real `ganglion up --example` (bus,
 * core, console and the example worker, examples/ts-worker): a three-step pipeline of the
 * example's task types is defined and run from the CLI, and the page shows the run appear and its
 * steps complete live, for an operator and for a read-only session. With CONSOLE_SCREENSHOTS=DIR
 * it writes the README's `console-pipeline.png` there.
 */

const shots = process.env.CONSOLE_SCREENSHOTS;
const dataDir = await mkdtemp(join(tmpdir(), "ganglion-console-pipelines-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

const bus: LiveCli = await startCli(["up", "--example", "--port", "0", "--console-port", "0", "--data-dir", dataDir]);
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

const login = async (url: string) => {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 640 } });
  const page = await ctx.newPage();
  await page.goto(url);
  return { ctx, page };
};

const apiPost = (page: Page, path: string, body: unknown) =>
  page.evaluate(
    async ([path, body]) => {
      const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json", "x-ganglion-console": "1" }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { ok: boolean; result?: unknown; error?: { code: string; message: string } } };
    },
    [path, body] as const,
  );

const STEPS = [
  ["first", "text.echo"],
  ["second", "text.echo"],
  ["count", "text.wordcount"],
];

/** The step graph of the page: each box's step id, task type and status, in order. */
const graph = async (page: Page) =>
  page
    .locator(".step-graph li.step")
    .evaluateAll((els) => els.map((e) => [e.getAttribute("data-step"), e.querySelector(".step-type")?.textContent, e.getAttribute("data-status")]));

let runId = "";

t.test("an operator sees a run appear live and its steps complete as a graph", async (t) => {
  const op = await login(operatorUrl);
  t.teardown(() => op.ctx.close());
  const page = op.page;
  await page.goto(`${origin}/#/pipelines`);
  await page.getByRole("heading", { name: "Pipelines" }).waitFor();
  await page.getByText("No pipeline run yet").waitFor();

  await cli(["pipeline", "define", join(repoRoot, "test/pipelines/fixtures/three.yaml")]);
  runId = (await cli(["pipeline", "run", "three-step", "--data", JSON.stringify({ text: "one two three" })])).trim();
  t.match(runId, /^[A-Za-z0-9]+$/);

  // The page was not reloaded: the run arrives over the live stream.
  const link = page.locator("a.run-link", { hasText: runId });
  await link.waitFor({ timeout: 60_000 });
  const row = page.locator("tr", { has: link });
  t.match(await row.textContent(), /three-step 1\.0\.0/);
  t.match(await row.textContent(), /operator:/, "who started it");
  await link.click();
  await page.getByRole("heading", { name: `Pipeline run ${runId}` }).waitFor();
  await page.locator(".run-status .badge.s-completed").waitFor({ timeout: 90_000 });
  t.same(
    await graph(page),
    STEPS.map(([id, type]) => [id, type, "completed"]),
    "every step is a box, in order, completed",
  );
  t.same(await page.locator(".step-attempt").allTextContents(), ["attempt 1", "attempt 1", "attempt 1"]);
  t.match(await page.textContent(".result"), /"words": 3/);
  if (shots) {
    await mkdir(shots, { recursive: true });
    await page.screenshot({ path: join(shots, "console-pipeline.png") });
  }

  // Each box links to its task's timeline on the Tasks page.
  await page.locator('li.step[data-step="count"] a.task-link').click();
  await page.locator(".task-status .badge.s-completed").waitFor({ timeout: 30_000 });
  t.match(new URL(page.url()).hash, /^#\/tasks\/.+/);
  t.equal(await page.locator(".facts").getByText("text.wordcount").count(), 1, "the step's task");
  await page.locator('.timeline li[data-type="task.completed"]').waitFor();
});

t.test("a read-only session sees the same graph, through the read endpoints over OPS", async (t) => {
  const viewer = await login(viewerUrl);
  t.teardown(() => viewer.ctx.close());
  const page = viewer.page;
  // `up --example` prints login URLs that land on the example's form: wait for the session instead.
  await page.locator("#who .who.viewer").waitFor();
  t.equal(await page.textContent("#who"), "read-only");
  t.equal((await apiPost(page, "/api/call/pipeline.get", { runId })).status, 403, "the operators' pipeline.get is refused");
  t.equal((await apiPost(page, "/api/call/pipeline.run", { name: "three-step", params: { text: "x" } })).status, 403, "and so is running one");
  const read = await apiPost(page, "/api/call/views.pipeline", { runId });
  t.match(read, { status: 200, body: { ok: true, result: { runId, status: "completed" } } }, "views.pipeline goes through");
  const proto = await apiPost(page, "/api/call/views.pipeline", { runId: "__proto__" });
  t.match(proto, { status: 400, body: { ok: false, error: { code: "InvalidRequest" } } }, "a run id outside its pattern is refused, not looked up");
  const none = await apiPost(page, "/api/call/views.pipeline", { runId: "nosuchrun" });
  t.match(none, { status: 422, body: { ok: false, error: { code: "NotFound" } } });

  await page.goto(`${origin}/#/pipelines`);
  await page.locator("a.run-link", { hasText: runId }).click();
  await page.locator(".run-status .badge.s-completed").waitFor({ timeout: 30_000 });
  t.same(
    await graph(page),
    STEPS.map(([id, type]) => [id, type, "completed"]),
  );
  t.equal(await page.locator("li.step a.task-link").count(), 3, "with a link per step to its task");
});
