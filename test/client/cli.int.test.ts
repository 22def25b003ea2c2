import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { Client } from "../../src/index.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { repoRoot, runCli } from "../cli/cliProcess.js";

const bus = await createTestBus();
t.teardown(bus.stop);
const dir = await mkdtemp(join(tmpdir(), "ganglion-appcli-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const on = ["--nats", bus.url, "--creds", bus.installation.adminCreds];

t.test("ganglion app add writes the application's .creds 0600, and they connect as that application", async (t) => {
  const file = join(dir, "shop.creds");
  const r = await runCli(["app", "add", "shop", "--grant", "task.submit:text.wordcount", "-o", file, ...on]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /added application shop/);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  const client = await Client.connect({ servers: bus.url, creds: file });
  t.same(client.info, { appId: "shop", grants: ["task.submit:text.wordcount"] });
  await client.close();
});

t.test("ganglion app grant, revoke, list --json, remove", async (t) => {
  t.equal((await runCli(["app", "grant", "shop", "task.submit:text.echo", ...on])).code, 0);
  t.equal((await runCli(["app", "revoke", "shop", "task.submit:text.wordcount", ...on])).code, 0);
  const l = await runCli(["app", "list", "--json", ...on]);
  t.equal(l.code, 0, l.stderr);
  t.match(JSON.parse(l.stdout), [{ appId: "shop", status: "active", grants: ["task.submit:text.echo"] }]);
  const bad = await runCli(["app", "revoke", "shop", "task.submit:never.granted", ...on]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /NotGranted/);
  const badName = await runCli(["app", "add", "Not_Valid", ...on]);
  t.not(badName.code, 0);
  t.match(badName.stderr, /appId/);
  t.equal((await runCli(["app", "remove", "shop", ...on])).code, 0);
  const all = await runCli(["app", "list", "--all", "--json", ...on]);
  t.match(JSON.parse(all.stdout), [{ appId: "shop", status: "removed" }]);
});

t.test("ganglion app add / creds --allow-from: the .creds carry the networks (their user JWT's src)", async (t) => {
  const file = join(dir, "fence.creds");
  const a = await runCli(["app", "add", "fence", "--allow-from", "127.0.0.1/32", "-o", file, ...on]);
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /from 127\.0\.0\.1\/32 only/);
  const src = async (f: string) => JSON.parse(Buffer.from((await readFile(f, "utf8")).split("\n")[1]!.split(".")[1]!, "base64url").toString()).nats.src;
  t.same(await src(file), ["127.0.0.1/32"]);
  const again = join(dir, "fence2.creds");
  const c = await runCli(["app", "creds", "fence", "--allow-from", "10.0.0.0/8,192.168.0.0/16", "-o", again, "--json", ...on]);
  t.equal(c.code, 0, c.stderr);
  t.same(JSON.parse(c.stdout).allowFrom, ["10.0.0.0/8", "192.168.0.0/16"]);
  t.same(await src(again), ["10.0.0.0/8", "192.168.0.0/16"]);
  const bad = await runCli(["app", "creds", "fence", "--allow-from", "not-a-network", ...on]);
  t.not(bad.code, 0);
  t.match(bad.stderr, /expected a network .*not-a-network/);
});

t.test("ganglion types writes declarations of params and results, and the Tasks map", async (t) => {
  const out = join(dir, "tasks.d.ts");
  const r = await runCli(["types", join(repoRoot, "examples/ts-worker/manifest.yaml"), "-o", out]);
  t.equal(r.code, 0, r.stderr);
  const text = await readFile(out, "utf8");
  t.match(text, /export interface TextWordcountParams \{\s+text: string;?\s+\}/);
  t.match(text, /"text\.wordcount": \{ params: TextWordcountParams; result: TextWordcountResult \}/);
  const missing = await runCli(["types", join(dir, "nope.yaml")]);
  t.equal(missing.code, 2, "a manifest that cannot be read is a usage error");
});
