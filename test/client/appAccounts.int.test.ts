import { readFile } from "node:fs/promises";
import { decode } from "@nats-io/jwt";
import type { ClaimsData, User } from "@nats-io/jwt";
import { parseCreds } from "@nats-io/jwt";
import * as E from "fp-ts/lib/Either.js";
import t from "tap";
import { Client } from "../../src/index.js";
import { accountAuthority } from "../../src/auth/accountAuthority.js";
import { appAccountKey, encodeAppAccount } from "../../src/auth/appAccounts.js";
import type { AppCredentials } from "../../src/contract/app.js";
import { callService } from "../../src/service/client.js";
import { startTestServer } from "../support/natsServer.js";
import { startCoreProcess } from "../faults/support.js";
import type { Proc } from "../faults/support.js";

// Applications' accounts are made to agree with the log at every core start, as plugins' are: a
// server whose account JWTs went stale (a resolver directory restored from a backup, a push lost
// in a crash) gets them again from the log. And `--allow-from` fences an application's
// credentials to networks: the user JWT's `src`, which the server enforces.

t.setTimeout(300_000);

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "app-accounts-test" });
t.teardown(() => nc.close());
const coreOpts = { url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds };
let core: Proc = await startCoreProcess(coreOpts);
t.teardown(() => core.kill());

const call = async <R>(endpoint: string, req: unknown): Promise<R> => {
  const r = await callService<R>(nc, endpoint, req, { timeoutMs: 30_000 });
  if (E.isLeft(r)) throw new Error(`${endpoint}: ${r.left.code}: ${r.left.message}`);
  return r.right;
};
/** Whether the credentials reach the core as their application (no route: the account imports nothing). */
const reaches = async (creds: string) => {
  try {
    const c = await Client.connect({ servers: server.url, creds, retryForMs: 2_000, requestTimeoutMs: 5_000 });
    await c.close();
    return true;
  } catch {
    return false;
  }
};

t.test("a stale application account is pushed again from the log at the core's start", async (t) => {
  const kept = await call<AppCredentials>("app.add", { appId: "kept", grants: ["task.submit:x.echo"] });
  const gone = await call<AppCredentials>("app.add", { appId: "gone", grants: ["task.submit:x.echo"] });
  await call("app.remove", { appId: "gone" });
  t.ok(await reaches(kept.creds), "the application reaches the core");
  t.notOk(await reaches(gone.creds), "a removed application does not");

  // The server's resolver goes stale: `kept` imports nothing, `gone` is active again with no revocations.
  await core.kill();
  const authority = server.installation.authority;
  const accounts = accountAuthority({ authority, sysCreds: await readFile(server.installation.sysCreds, "utf8"), servers: server.url });
  t.teardown(() => accounts.close());
  await accounts.push(appAccountKey(authority, "kept").getPublicKey(), await encodeAppAccount(authority, "kept", { active: false, grants: [] }, {}));
  await accounts.push(
    appAccountKey(authority, "gone").getPublicKey(),
    await encodeAppAccount(authority, "gone", { active: true, grants: ["task.submit:x.echo"] }, {}),
  );
  t.notOk(await reaches(kept.creds), "with the stale account, `kept` has no route");

  core = await startCoreProcess(coreOpts);
  t.ok(await reaches(kept.creds), "after the core's start, `kept` reaches the core again");
  t.notOk(await reaches(gone.creds), "and `gone`'s credentials are revoked again");
});

t.test("--allow-from: the credentials carry the networks as src; the server refuses them from elsewhere", async (t) => {
  const srcOf = async (creds: string) => decode<User>((await parseCreds(new TextEncoder().encode(creds))).jwt) as ClaimsData<User>;
  const here = await call<AppCredentials>("app.add", { appId: "fenced", grants: [], allowFrom: ["127.0.0.1/32"] });
  t.same((await srcOf(here.creds)).nats.src, ["127.0.0.1/32"], "add --allow-from sets src");
  t.ok(await reaches(here.creds), "from 127.0.0.1 it connects");
  const elsewhere = await call<AppCredentials>("app.creds", { appId: "fenced", allowFrom: ["10.0.0.0/8"] });
  t.same((await srcOf(elsewhere.creds)).nats.src, ["10.0.0.0/8"], "creds --allow-from sets src");
  t.notOk(await reaches(elsewhere.creds), "from 127.0.0.1, credentials fenced to 10.0.0.0/8 are refused by the server");
  const open = await call<AppCredentials>("app.creds", { appId: "fenced" });
  t.equal((await srcOf(open.creds)).nats.src, undefined, "without it: any network");
  const bad = await callService(nc, "app.creds", { appId: "fenced", allowFrom: ["nope"] });
  t.ok(E.isLeft(bad) && bad.left.code === "InvalidRequest" && /allowFrom/.test(JSON.stringify(bad.left)), "a bad network is refused, naming allowFrom");
  const many = await callService(nc, "app.creds", { appId: "fenced", allowFrom: Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`) });
  t.ok(E.isLeft(many) && many.left.code === "InvalidRequest", "at most 32 networks");
});
