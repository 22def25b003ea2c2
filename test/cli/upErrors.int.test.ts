import t from "tap";
import type { Test } from "tap";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator } from "@nats-io/nkeys";
import { runCli } from "./cliProcess.js";
import type { CliResult } from "./cliProcess.js";

const root = await mkdtemp(join(tmpdir(), "ganglion-uperr-"));
t.teardown(() => rm(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${n++}`);
const listing = async (dir: string) => readdir(dir, { recursive: true }).catch(() => [] as string[]);

/** Every expected error: exit code 4, the fix in the message, no stack trace. */
const expectSetupError = (t: Test, r: CliResult, message: RegExp) => {
  t.equal(r.code, 4, `exit code 4 (stderr: ${r.stderr})`);
  t.match(r.stderr, message);
  t.notMatch(r.stderr, /^\s+at /m, "no stack trace");
  t.equal(r.stdout, "", "no ready line");
};

t.test("port taken: says so, names --port, writes nothing", async (t) => {
  const blocker = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => blocker.once("listening", r));
  t.teardown(() => new Promise((r) => blocker.close(r)));
  const port = (blocker.address() as AddressInfo).port;
  const dir = freshDir();
  expectSetupError(t, await runCli(["up", "--port", String(port), "--data-dir", dir]), new RegExp(`port ${port} .*already in use.*--port`));
  t.same(await listing(dir), [], "no keys were created");
});

t.test("data dir not writable (a path under a regular file fails even for root)", async (t) => {
  const file = join(root, "a-file");
  await writeFile(file, "");
  expectSetupError(t, await runCli(["up", "--port", "0", "--data-dir", join(file, "data")]), /not writable.*--data-dir/);
});

t.test("nats-server missing: names the install commands, writes nothing", async (t) => {
  const dir = freshDir();
  expectSetupError(
    t,
    await runCli(["up", "--port", "0", "--data-dir", dir], { NATS_SERVER_BIN: join(root, "no-such-nats-server") }),
    /NATS_SERVER_BIN=.*not an executable.*apt-get install nats-server/,
  );
  t.same(await listing(dir), [], "no keys were created");
});

t.test("nats-server too old: says which version is needed", async (t) => {
  const fake = join(root, "old-nats-server");
  await writeFile(fake, '#!/bin/sh\necho "nats-server: v2.8.4"\n');
  await chmod(fake, 0o755);
  const dir = freshDir();
  expectSetupError(t, await runCli(["up", "--port", "0", "--data-dir", dir], { NATS_SERVER_BIN: fake }), /nats-server 2\.8\.4.*needs 2\.9\.0 or newer/);
  t.same(await listing(dir), [], "no keys were created");
});

t.test("foreign or corrupt keys are refused and left untouched", async (t) => {
  const dir = freshDir();
  const keys = join(dir, "keys");
  await mkdir(keys, { recursive: true });
  const enc = (u: Uint8Array) => new TextDecoder().decode(u);
  // An account seed where the operator's belongs: a foreign key.
  const files: Record<string, string> = {
    "operator.nk": enc(createAccount().getSeed()),
    "sys.nk": enc(createAccount().getSeed()),
    "bus.nk": enc(createAccount().getSeed()),
    "bus-signer.nk": enc(createAccount().getSeed()),
  };
  for (const [f, v] of Object.entries(files)) await writeFile(join(keys, f), v, { mode: 0o600 });
  expectSetupError(t, await runCli(["up", "--port", "0", "--data-dir", dir]), /operator\.nk is not a SO seed.*backup/);

  // A truncated operator seed: the right prefix, broken content.
  files["operator.nk"] = enc(createOperator().getSeed()).slice(0, 20);
  await writeFile(join(keys, "operator.nk"), files["operator.nk"]);
  expectSetupError(t, await runCli(["up", "--port", "0", "--data-dir", dir]), /operator\.nk holds a corrupt seed/);
  for (const [f, v] of Object.entries(files)) t.equal(await readFile(join(keys, f), "utf8"), v, `${f} untouched`);
  t.same((await listing(dir)).sort(), ["keys", ...Object.keys(files).map((f) => join("keys", f))].sort(), "nothing else written");
});

t.test("usage errors exit 2", async (t) => {
  const r = await runCli(["up", "--port", "not-a-port"]);
  t.equal(r.code, 2);
  t.match(r.stderr, /port number/);
});
