import t from "tap";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { findDataDir, natsContextDir, natsHome, readNatsContext } from "../../src/cli/profile.js";
import { resolveTarget } from "../../src/cli/connection.js";
import { decodeConfig, DEFAULT_DATA_DIR } from "../../src/config.js";

const dir = await mkdtemp(join(tmpdir(), "ganglion-profile-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test("the data dir is found by walking up from the current directory, like git", async (t) => {
  const root = join(dir, "checkout");
  await mkdir(join(root, ".ganglion", "keys"), { recursive: true });
  await mkdir(join(root, "examples", "ts-worker"), { recursive: true });
  t.equal(findDataDir(join(root, "examples", "ts-worker")), join(root, ".ganglion"));
  t.equal(findDataDir(join(root, "examples")), join(root, ".ganglion"));
  t.equal(findDataDir(root), DEFAULT_DATA_DIR, "in the directory itself: ./.ganglion as before");
  const elsewhere = join(dir, "elsewhere");
  await mkdir(elsewhere);
  t.equal(findDataDir(elsewhere), DEFAULT_DATA_DIR, "none above: ./.ganglion, where `up` creates it");
  await writeFile(join(dir, "file-root"), "");
});

t.test("home as the nats CLI finds it: the password database, not $HOME", async (t) => {
  const saved = process.env.HOME;
  process.env.HOME = join(dir, "not-home");
  t.teardown(() => {
    process.env.HOME = saved;
  });
  t.equal(natsHome(), userInfo().homedir);
  t.equal(natsContextDir(undefined), join(userInfo().homedir, ".config", "nats", "context"));
  t.equal(natsContextDir("/xdg"), "/xdg/nats/context", "XDG_CONFIG_HOME first, as the nats CLI");
});

t.test("a nats CLI context: url, creds, inbox prefix, TLS; relative paths from the context's directory", async (t) => {
  const xdg = join(dir, "xdg");
  const ctxDir = join(xdg, "nats", "context");
  await mkdir(ctxDir, { recursive: true });
  await writeFile(
    join(ctxDir, "ro.json"),
    JSON.stringify({ description: "d", url: "nats://127.0.0.1:4999", creds: "ro.creds", inbox_prefix: "_INBOX._ops", ca: "/abs/ca.pem", user: "ignored" }),
  );
  const c = readNatsContext("ro", xdg, "--context");
  t.match(c, { url: "nats://127.0.0.1:4999", creds: join(ctxDir, "ro.creds"), inbox_prefix: "_INBOX._ops", ca: "/abs/ca.pem" });
  t.throws(() => readNatsContext("../../etc/passwd", xdg, "--context"), /not a context name/);
  t.throws(() => readNatsContext("missing", xdg, "NATS_CONTEXT"), /nats context "missing" \(from NATS_CONTEXT\).*no such file/);
  await writeFile(join(ctxDir, "bad.json"), JSON.stringify({ url: 5 }));
  t.throws(() => readNatsContext("bad", xdg, "--context"), /url/);

  const g = { dataDir: join(dir, "no-data-dir") };
  const viaFlag = await resolveTarget({ ...g, context: "ro" }, decodeConfig({ XDG_CONFIG_HOME: xdg }));
  t.match(viaFlag, { url: "nats://127.0.0.1:4999", credsPath: join(ctxDir, "ro.creds"), inboxPrefix: "_INBOX._ops" });
  const viaEnv = await resolveTarget(g, decodeConfig({ XDG_CONFIG_HOME: xdg, NATS_CONTEXT: "ro" }));
  t.match(viaEnv, { url: "nats://127.0.0.1:4999", inboxPrefix: "_INBOX._ops" });
  const overridden = await resolveTarget({ ...g, context: "ro", nats: "nats://other:1", creds: "/x.creds" }, decodeConfig({ XDG_CONFIG_HOME: xdg }));
  t.match(overridden, { url: "nats://other:1", credsPath: "/x.creds" }, "--nats and --creds win over the context");
});
