import t from "tap";
import { capabilitySubjects, devBootstrapPermissions, pluginPermissions } from "../../src/auth/permissions.js";
import { defaultCatalog } from "../../src/plugins/catalog.js";

const catalog = defaultCatalog();

t.test("a plugin with no grant: its task consumer, results, heartbeats and its inbox, nothing else", async (t) => {
  t.same(pluginPermissions(catalog, "wordcount", []), {
    pub: {
      allow: [
        "$JS.API.CONSUMER.INFO.TASKS.tasks-wordcount",
        "$JS.API.CONSUMER.MSG.NEXT.TASKS.tasks-wordcount",
        "$JS.ACK.TASKS.tasks-wordcount.>",
        "res.wordcount.>",
        "hb.wordcount.*",
      ],
    },
    sub: { allow: ["_INBOX.wordcount.>"] },
  });
});

t.test("grants add exactly their subjects", async (t) => {
  const p = pluginPermissions(catalog, "wordcount", ["topic.publish:text.counted", "topic.subscribe:text.raw", "task.submit:image.resize", "secret.read:db", "provider.chat", "mcp.server"]);
  t.same(p.pub?.allow?.slice(5), [
    "top.text.counted",
    "$JS.API.CONSUMER.INFO.TOPICS.top-wordcount-text_raw",
    "$JS.API.CONSUMER.MSG.NEXT.TOPICS.top-wordcount-text_raw",
    "$JS.ACK.TOPICS.top-wordcount-text_raw.>",
    "submit.image.resize",
    "secret.db",
    "prov.chat",
  ]);
  t.same(p.sub?.allow, ["_INBOX.wordcount.>", "mcp.wordcount.>"]);
  t.same(p.resp, { max: 1, ttl: 0 });
});

t.test("no permission set ever opens the log, KV, JetStream administration, $SYS or a full wildcard", async (t) => {
  const every = catalog.capabilities.map((c) => (c.param ? `${c.name}:x.y` : c.name));
  const p = pluginPermissions(catalog, "p", every);
  for (const s of [...(p.pub?.allow ?? []), ...(p.sub?.allow ?? [])]) {
    t.notOk(/^(>|ev\.|\$KV\.|\$SYS\.|\$JS\.API\.(STREAM|INFO|ACCOUNT)|\$JS\.API\.>)/.test(s), s);
    t.notOk(s.startsWith("*"), s);
  }
});

t.test("the catalog documents the subjects the code really opens", async (t) => {
  for (const entry of catalog.capabilities) {
    const param = entry.param ? "a.b" : undefined;
    const cap = param ? `${entry.name}:${param}` : entry.name;
    const fill = (tpl: string) => tpl.replaceAll("<plugin>", "p").replaceAll("<param_>", "a_b").replaceAll("<param>", param ?? "");
    const s = capabilitySubjects(catalog, "p", cap);
    t.same({ pub: s.pub, sub: s.sub, responses: s.responses }, { pub: entry.pub.map(fill), sub: entry.sub.map(fill), responses: entry.responses ?? false }, cap);
  }
});

t.test("a bad plugin id never reaches a permission set", async (t) => {
  t.throws(() => pluginPermissions(catalog, "a.>", []));
  t.throws(() => pluginPermissions(catalog, "*", []));
});

t.test("dev bootstrap credentials may only register", async (t) => {
  t.same(devBootstrapPermissions(), { pub: { allow: ["ganglion.v1.plugin.register"] }, sub: { allow: ["_INBOX._bootstrap.>"] } });
});
