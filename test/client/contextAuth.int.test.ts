import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import t from "tap";
import { Client } from "../../src/index.js";
import { findNatsServer, startNatsServer } from "../../src/embedded/natsServer.js";
import { runCli } from "../cli/cliProcess.js";

// nats CLI contexts that authenticate without a .creds file: user and password, a token, an nkey
// seed file. Both readers honour them: `Client.connect({ context })` and the CLI's `--context`.
// Real nats-servers with those auth modes; the test answers `app.call.info` as a core would.

t.setTimeout(180_000);

const dir = await mkdtemp(join(tmpdir(), "ganglion-ctxauth-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const xdg = join(dir, "xdg");
await mkdir(join(xdg, "nats", "context"), { recursive: true });
const nk = createUser();
const seedFile = join(dir, "user.nk");
await writeFile(seedFile, `${new TextDecoder().decode(nk.getSeed())}\n`, { mode: 0o600 });

const bin = await findNatsServer(process.env);
const serve = async (name: string, authorization: string) => {
  const conf = join(dir, `${name}.conf`);
  await writeFile(conf, `listen: 127.0.0.1:-1\njetstream { store_dir: ${JSON.stringify(join(dir, name, "js"))} }\nauthorization ${authorization}\n`);
  const s = await startNatsServer({ bin, configFile: conf, portsDir: join(dir, name, "ports"), host: "127.0.0.1", port: -1 });
  t.teardown(() => s.stop());
  return s;
};
const users = await serve("users", `{ users = [ { user: "alice", password: "s3cret" }, { nkey: "${nk.getPublicKey()}" } ] }`);
const tokens = await serve("token", `{ token: "t0ken-abc" }`);

/** A context as `nats context save` writes it: every field present, unset ones "". */
const context = async (name: string, fields: Record<string, string>) => {
  const full = {
    description: "",
    url: "",
    token: "",
    user: "",
    password: "",
    creds: "",
    nkey: "",
    cert: "",
    key: "",
    ca: "",
    nsc: "",
    jetstream_domain: "",
    ...fields,
  };
  await writeFile(join(xdg, "nats", "context", `${name}.json`), JSON.stringify(full));
};
await context("pw", { url: users.url, user: "alice", password: "s3cret" });
await context("badpw", { url: users.url, user: "alice", password: "wrong" });
await context("tok", { url: tokens.url, token: "t0ken-abc" });
await context("nk", { url: users.url, nkey: seedFile });
await context("nofile", { url: users.url, nkey: join(dir, "missing.nk") });

t.test("the CLI's --context authenticates with user/password, token and nkey", async (t) => {
  for (const name of ["pw", "tok", "nk"]) {
    const r = await runCli(["status", "--context", name, "--json"], { XDG_CONFIG_HOME: xdg });
    t.equal(r.code, 0, `${name}: ${r.stderr}`);
    t.match(JSON.parse(r.stdout), { url: name === "tok" ? tokens.url : users.url }, name);
  }
  const bad = await runCli(["status", "--context", "badpw"], { XDG_CONFIG_HOME: xdg });
  t.equal(bad.code, 3, "a wrong password cannot reach the bus");
  t.match(bad.stderr, /user alice/, "the error says how it authenticated");
  const missing = await runCli(["status", "--context", "nofile"], { XDG_CONFIG_HOME: xdg });
  t.not(missing.code, 0);
  t.match(missing.stderr, /nkey file .*missing\.nk/);
});

t.test("Client.connect({ context }) authenticates with user/password, token and nkey", async (t) => {
  const saved = process.env.XDG_CONFIG_HOME;
  process.env.XDG_CONFIG_HOME = xdg;
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = saved;
  });
  // The core's answer to `app.call.info`, on each server.
  const { connect } = await import("@nats-io/transport-node");
  for (const [s, auth] of [
    [users, { user: "alice", pass: "s3cret" }],
    [tokens, { token: "t0ken-abc" }],
  ] as const) {
    const core = await connect({ servers: s.url, ...auth });
    core.subscribe("app.call.info", { callback: (_e, m) => void m.respond(JSON.stringify({ ok: true, result: { appId: "ctx", grants: [] } })) });
    await core.flush();
    t.teardown(() => core.close());
  }
  for (const name of ["pw", "tok", "nk"]) {
    const c = await Client.connect({ context: name, retryForMs: 5_000 });
    t.same(c.info, { appId: "ctx", grants: [] }, name);
    await c.close();
  }
  await t.rejects(Client.connect({ context: "badpw", retryForMs: 1_000 }), /Authorization|auth/i, "a wrong password is refused");
  await t.rejects(Client.connect({ context: "nofile" }), /nkey file/, "a missing nkey file is named");
});
