import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { ContextError, readNatsContext } from "../../src/client/context.js";

const home = await mkdtemp(join(tmpdir(), "ganglion-ctx-"));
t.teardown(() => rm(home, { recursive: true, force: true }));
const env = { XDG_CONFIG_HOME: home };
const dir = join(home, "nats", "context");
await mkdir(dir, { recursive: true });

t.test("reads url, creds and inbox_prefix of a nats CLI context; other fields are ignored", async (t) => {
  await writeFile(
    join(dir, "shop.json"),
    JSON.stringify({ url: "nats://a:4222,nats://b:4222", creds: "/x/shop.creds", inbox_prefix: "_INBOX_shop", nkey: "", tls_ca: "" }),
  );
  t.match(await readNatsContext("shop", env), {
    url: "nats://a:4222,nats://b:4222",
    creds: "/x/shop.creds",
    inbox_prefix: "_INBOX_shop",
    path: join(dir, "shop.json"),
  });
});

t.test("a missing context, bad JSON, a field of the wrong type, a name that walks out: errors naming the file or the name", async (t) => {
  await t.rejects(readNatsContext("nope", env), ContextError);
  await writeFile(join(dir, "bad.json"), "{");
  await t.rejects(readNatsContext("bad", env), /not JSON/);
  await writeFile(join(dir, "typed.json"), JSON.stringify({ url: 4222 }));
  await t.rejects(readNatsContext("typed", env), /url/);
  for (const name of ["../etc", "a/b", "", ".hidden", "x".repeat(200)]) await t.rejects(readNatsContext(name, env), /not valid/, JSON.stringify(name));
});
