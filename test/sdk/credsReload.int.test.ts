import t from "tap";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { createTestBus } from "../../src/testing/testBus.js";
import { runCli } from "../cli/cliProcess.js";

/**
 * Issue 12: the SDK reloads its .creds file. The example worker runs as an operator runs it; the
 * operator re-mints its credentials with `ganglion plugin creds wordcount -o FILE` over the same
 * file and sends SIGHUP: the worker reconnects as the new user at once (no server restart, no
 * worker restart) and keeps serving. A broken file is refused and the working connection kept.
 */
const bus = await createTestBus();
t.teardown(bus.stop);
const root = new URL("../../examples/ts-worker/", import.meta.url).pathname;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The user public key of a .creds file (its JWT's `sub`). */
const userOf = (creds: string) => {
  const jwt = /-----BEGIN NATS USER JWT-----\s*([^\s-]+)\s*-/.exec(creds)?.[1] ?? "";
  return (JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as { sub: string }).sub;
};

t.test("SIGHUP makes the example worker reconnect with re-minted credentials; a broken file changes nothing", async (t) => {
  const { creds } = await bus.install(await readFile(join(root, "manifest.yaml"), "utf8"));
  const credsFile = join(bus.dataDir, "wordcount-hup.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "worker.ts")], {
    env: { ...process.env, WORDCOUNT_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: "hup1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  t.teardown(() => void child.kill("SIGKILL"));
  for (let i = 0; i < 600 && !out.includes("running"); i++) await sleep(100);
  t.match(out, /wordcount worker hup1 running/);

  const sys = await connect({ servers: bus.url, authenticator: credsAuthenticator(await readFile(bus.installation.sysCreds)), reconnect: false });
  t.teardown(() => sys.close());
  type Connz = { data?: { connections?: { name?: string; authorized_user?: string }[] } };
  const userOfWorker = async () => {
    const m = await sys.request("$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ auth: true, limit: 1024 }), { timeout: 5000 });
    return (m.json() as Connz).data?.connections?.find((c) => c.name === "wordcount:hup1")?.authorized_user;
  };
  const waitUser = async (want: string) => {
    let user: string | undefined;
    for (let i = 0; i < 300 && user !== want; i++) {
      user = await userOfWorker().catch(() => undefined);
      if (user !== want) await sleep(100);
    }
    return user;
  };
  const first = userOf(creds);
  t.equal(await waitUser(first), first, "connected as the first user");

  // A broken file: refused, the connection stays as it is.
  await writeFile(credsFile, "not credentials\n", { mode: 0o600 });
  child.kill("SIGHUP");
  for (let i = 0; i < 300 && !err.includes("cannot be used"); i++) await sleep(100);
  t.match(err, /wordcount-hup\.creds cannot be used: .*keeps the credentials it has/);
  t.equal(await userOfWorker(), first, "still the first user");

  const mint = await runCli(["plugin", "creds", "wordcount", "-o", credsFile, "--nats", bus.url, "--creds", bus.installation.adminCreds]);
  t.equal(mint.code, 0, mint.stderr);
  const second = userOf(await readFile(credsFile, "utf8"));
  t.not(second, first, "a new user was minted");
  child.kill("SIGHUP");
  t.equal(await waitUser(second), second, "reconnected as the re-minted user, no restart");
  let done;
  for (let i = 0; i < 50 && !done; i++) {
    done = await bus.submit("text.wordcount", { text: "one two three" }, { waitMs: 20_000 }).catch(() => undefined);
    if (!done || done.status !== "completed") done = undefined;
  }
  t.match(done, { status: "completed", result: { words: 3 }, instance: "hup1" }, "and it keeps serving");
  t.equal(child.exitCode, null, "the same process throughout");
});
