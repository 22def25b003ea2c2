import t from "tap";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { callService } from "../../src/service/client.js";
import { repoRoot, runCli, startCli } from "./cliProcess.js";

const dataDir = await mkdtemp(join(tmpdir(), "ganglion-dev-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

t.test("up --dev hands out bootstrap credentials; a worker registering with them is approved automatically", async (t) => {
  const bus = await startCli(["up", "--dev", "--port", "0", "--data-dir", dataDir]);
  t.teardown(() => bus.stop());
  let line: string | undefined;
  for (let i = 0; i < 100 && !line; i++) {
    line = bus.lines().find((l) => l.startsWith("dev mode:"));
    if (!line) await new Promise((r) => setTimeout(r, 50));
  }
  const path = join(dataDir, "creds", "dev-bootstrap.creds");
  t.match(line, path, "the dev line names the bootstrap credentials");
  t.equal((await stat(path)).mode & 0o777, 0o600);
  const nc = await connect({
    servers: bus.url,
    authenticator: credsAuthenticator(await readFile(path)),
    inboxPrefix: "_INBOX._bootstrap",
  });
  t.teardown(() => nc.close());
  const manifestText = await readFile(join(repoRoot, "examples/ts-worker/manifest.yaml"), "utf8");
  const r = await callService<{ approved: boolean; creds?: string }>(nc, "plugin.register", { manifestText });
  t.ok(E.isRight(r), JSON.stringify(r));
  if (E.isRight(r)) {
    t.equal(r.right.approved, true);
    t.match(r.right.creds, /BEGIN NATS USER JWT/);
  }
  const show = await runCli(["plugin", "show", "wordcount", "--json", "--data-dir", dataDir]);
  t.equal(show.code, 0, show.stderr);
  t.match(JSON.parse(show.stdout), { plugin: { status: "active" } });
});

t.test("without --dev there are no bootstrap credentials", async (t) => {
  const other = await mkdtemp(join(tmpdir(), "ganglion-nodev-"));
  t.teardown(() => rm(other, { recursive: true, force: true }));
  const bus = await startCli(["up", "--port", "0", "--data-dir", other]);
  t.teardown(() => bus.stop());
  t.notOk(bus.lines().some((l) => l.startsWith("dev mode:")));
  await t.rejects(stat(join(other, "creds", "dev-bootstrap.creds")));
});
