import t from "tap";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCli } from "./cliProcess.js";

// `up --port 0` keeps the port of its first start on later starts, unless it is taken.
t.setTimeout(15 * 60_000);
const dir = await mkdtemp(join(tmpdir(), "ganglion-port-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const dataDir = join(dir, "data");
const portOf = (url: string) => Number(new URL(url).port);

t.test("the first start picks a free port, a later start gets the same one", async (t) => {
  const first = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
  const port = portOf(first.url);
  t.ok(port > 0);
  t.equal((await readFile(join(dataDir, "nats", "port"), "utf8")).trim(), String(port), "remembered in the data dir");
  t.equal((await first.stop()).code, 0);
  const second = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
  t.equal(portOf(second.url), port, "the same URL: workers reconnect, the context stays valid");
  await second.stop();

  // Something else took the port meanwhile: another free one, said so, and remembered.
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(port, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  const third = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
  t.not(portOf(third.url), port);
  t.match(third.stderr(), new RegExp(`port ${port} of the earlier start is taken`));
  t.equal((await readFile(join(dataDir, "nats", "port"), "utf8")).trim(), String(portOf(third.url)));
  await third.stop();
});
