import t from "tap";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { Worker } from "../../src/sdk/worker.js";
import { Streams, topicConsumer } from "../../src/contract/subjects.js";
import { spawnWorker } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);

const plugin = (id: string, capabilities: string[]) => ({ id, version: "1.0.0", description: id, provides: [], capabilities });

t.test("a topic fans out to every granted subscriber; a plugin without the grant can neither publish nor read", async (t) => {
  const poster = await bus.install(plugin("poster", ["topic.publish:news.posted"]));
  const a = await bus.install(plugin("reader-a", ["topic.subscribe:news.posted"]));
  const b = await bus.install(plugin("reader-b", ["topic.subscribe:news.posted"]));
  const outsider = await bus.install(plugin("outsider", []));

  const jsm = await jetstreamManager(bus.nc);
  for (const id of ["reader-a", "reader-b"]) {
    const end = Date.now() + 10_000;
    while (!(await jsm.consumers.info(Streams.Topics, topicConsumer(id, "news.posted")).catch(() => undefined))) {
      if (Date.now() > end) throw new Error(`no topic consumer for ${id}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await t.rejects(jsm.consumers.info(Streams.Topics, topicConsumer("outsider", "news.posted")), "no consumer for a plugin without the grant");

  const ra = await spawnWorker(bus, { plugin: "reader-a", creds: a.creds, instance: "ra", topics: ["news.posted"] });
  const rb = await spawnWorker(bus, { plugin: "reader-b", creds: b.creds, instance: "rb", topics: ["news.posted"] });
  t.teardown(() => Promise.all([ra.kill(), rb.kill()]));

  const pub = new Worker({ plugin: "poster", creds: poster.creds, servers: bus.url, instance: "p1" });
  await pub.run();
  t.teardown(() => pub.stop({ graceMs: 0 }));
  await pub.publish("news.posted", { headline: "hello" });

  const ga = await ra.waitFor((l) => l.event === "topic", "the message at reader-a");
  const gb = await rb.waitFor((l) => l.event === "topic", "the message at reader-b");
  t.same(ga.msg, { headline: "hello" });
  t.same(gb.msg, { headline: "hello" });

  const nc = await bus.connectWith(outsider.creds, "_INBOX.outsider");
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  await t.rejects(js.publish("top.news.posted", JSON.stringify({ headline: "spoof" }), { timeout: 1000 }), "publishing without topic.publish is denied");
  await t.rejects(js.consumers.get(Streams.Topics, topicConsumer("reader-a", "news.posted")), "reading another plugin's consumer is denied");
  const info = await jsm.streams.info(Streams.Topics);
  t.equal(info.state.messages, 1, "only the granted publication is stored");
});
