import t from "tap";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveTarget } from "../../src/cli/connection.js";
import { decodeConfig } from "../../src/config.js";

const dir = await mkdtemp(join(tmpdir(), "ganglion-target-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
await mkdir(join(dir, "nats"), { recursive: true });
await mkdir(join(dir, "creds"), { recursive: true });
await writeFile(join(dir, "nats", "url"), "nats://127.0.0.1:4999\n");
await writeFile(join(dir, "creds", "admin.creds"), "creds");
const noEnv = decodeConfig({});

t.test("the data dir of a running `ganglion up`", async (t) => {
  t.same(await resolveTarget({ dataDir: dir }, noEnv), {
    url: "nats://127.0.0.1:4999",
    urlSource: join(dir, "nats", "url"),
    credsPath: join(dir, "creds", "admin.creds"),
    credsSource: "data dir",
  });
});

t.test("flags beat the environment, which beats the data dir", async (t) => {
  const env = decodeConfig({ GANGLION_NATS_URL: "nats://env:1", GANGLION_CREDS: "/env.creds" });
  const fromEnv = await resolveTarget({ dataDir: dir }, env);
  t.equal(fromEnv.url, "nats://env:1");
  t.equal(fromEnv.credsPath, "/env.creds");
  const fromFlags = await resolveTarget({ dataDir: dir, nats: "nats://flag:2", creds: "/flag.creds" }, env);
  t.equal(fromFlags.url, "nats://flag:2");
  t.equal(fromFlags.urlSource, "--nats");
  t.equal(fromFlags.credsPath, "/flag.creds");
});

t.test("--nats alone still uses the data dir's admin credentials when there are some", async (t) => {
  const r = await resolveTarget({ dataDir: dir, nats: "nats://flag:2" }, noEnv);
  t.equal(r.credsPath, join(dir, "creds", "admin.creds"));
  const bare = await resolveTarget({ dataDir: join(dir, "elsewhere"), nats: "nats://flag:2" }, noEnv);
  t.equal(bare.credsPath, undefined, "no credentials at all");
});

t.test("no URL anywhere: exit code 3 with the way out", async (t) => {
  await t.rejects(resolveTarget({ dataDir: join(dir, "empty") }, noEnv), { exitCode: 3, message: /ganglion up --data-dir .*--nats URL --creds FILE/ });
});
