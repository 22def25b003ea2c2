import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { runCli } from "../cli/cliProcess.js";
import { fixtureManifest, spawnWorker } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);
const { creds } = await bus.install(fixtureManifest("clitool", { retry: { maxAttempts: 1 } }));
const w = await spawnWorker(bus, { plugin: "clitool", creds, instance: "cli-1" });
t.teardown(() => w.kill());
const target = ["--nats", bus.url, "--creds", bus.installation.adminCreds];

t.test("task submit --wait prints the result", async (t) => {
  const r = await runCli(["task", "submit", "work.sleep", "--data", '{"ms": 10}', "--wait", "--timeout", "20s", ...target]);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { instance: "cli-1" });
});

t.test("task submit prints the id; a failure with --wait exits 1 naming it; task retry sends it again", async (t) => {
  const r = await runCli(["task", "submit", "work.fail", "--data", "{}", "--wait", ...target]);
  t.equal(r.code, 1);
  t.match(r.stderr, /ended dead-lettered/);
  const id = /task (\S+) submitted/.exec(r.stderr)?.[1];
  t.ok(id);
  const again = await runCli(["task", "retry", id!, ...target]);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /sent again \(attempt 2 of 2\)/);
});

t.test("bad input is a clear error", async (t) => {
  const bad = await runCli(["task", "submit", "work.sleep", "--data", "{nope", ...target]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--data is not JSON/);
  const unknown = await runCli(["task", "submit", "no.such", ...target]);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /UnknownTaskType/);
});

t.test("task cancel", async (t) => {
  const s = await runCli(["task", "submit", "work.wait", ...target]);
  t.equal(s.code, 0, s.stderr);
  const id = s.stdout.trim();
  await w.waitFor((l) => l.event === "started" && l.taskId === id, "the start");
  const c = await runCli(["task", "cancel", id, "--reason", "test", ...target]);
  t.equal(c.code, 0, c.stderr);
  await w.waitFor((l) => l.event === "aborted" && l.taskId === id, "the abort");
});
