import t from "tap";
import { createAccount, createOperator, decode } from "@nats-io/jwt";
import type { Account } from "@nats-io/jwt";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateAuthority } from "../../src/auth/authority.js";
import { capabilityImports, deriveAccountKey, encodePluginAccount, meetAccess, pluginAccountKey, pluginImports, sameAccess } from "../../src/auth/accounts.js";
import { mergeRevocations } from "../../src/auth/accountAuthority.js";
import { nativeKeyPair } from "../../src/auth/nativeKeys.js";
import { defaultCatalog } from "../../src/contract/catalog.js";

const dir = await mkdtemp(join(tmpdir(), "ganglion-accounts-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const a = await loadOrCreateAuthority(dir);

t.test("native signatures are nkeys' signatures", async (t) => {
  for (const kp of [createOperator(), createAccount()]) {
    const fast = nativeKeyPair(kp);
    const data = new TextEncoder().encode("ganglion ".repeat(50));
    t.same(Buffer.from(fast.sign(data)), Buffer.from(kp.sign(data)));
    t.equal(fast.getPublicKey(), kp.getPublicKey());
    t.ok(kp.verify(data, fast.sign(data)));
  }
});

t.test("account keys are derived: stable, distinct per label, and independent of the process", async (t) => {
  t.equal(pluginAccountKey(a, "alpha").getPublicKey(), pluginAccountKey(a, "alpha").getPublicKey());
  t.not(pluginAccountKey(a, "alpha").getPublicKey(), pluginAccountKey(a, "beta").getPublicKey());
  t.match(deriveAccountKey(a, "ops").getPublicKey(), /^A[A-Z2-7]{55}$/);
  const again = await loadOrCreateAuthority(dir);
  t.equal(pluginAccountKey(again, "alpha").getPublicKey(), pluginAccountKey(a, "alpha").getPublicKey(), "the same data dir gives the same account");
  t.throws(() => pluginAccountKey(a, "Bad.Id"), /plugin id/);
});

t.test("every capability in the catalog has imports (or says it opens none); an inactive plugin imports nothing", async (t) => {
  const bus = a.bus.getPublicKey();
  for (const c of defaultCatalog().capabilities) {
    const cap = c.param ? `${c.name}:x.y` : c.name;
    t.doesNotThrow(() => capabilityImports(bus, "alpha", cap), cap);
  }
  // The catalog's templates say the same as the imports built from store/subjects.ts.
  for (const c of defaultCatalog().capabilities) {
    const cap = c.param ? `${c.name}:news.daily` : c.name;
    const fill = (x: string) => x.replaceAll("<plugin>", "alpha").replaceAll("<param_>", "news_ddaily").replaceAll("<param>", "news.daily");
    const built = capabilityImports(bus, "alpha", cap).map((i) => ({ local: i.local_subject ?? i.subject, bus: i.subject }));
    t.same(
      built,
      c.imports.map((i) => ({ local: fill(i.local), bus: fill(i.bus) })),
      `catalog/capabilities.json says what ${c.name} imports`,
    );
  }
  t.same(pluginImports(bus, "alpha", { active: false, granted: ["topic.publish:news"] }), []);
  const imports = pluginImports(bus, "alpha", { active: true, granted: ["task.submit:x.y"] });
  const submit = imports.find((i) => i.subject === "submit.alpha.x.y");
  t.same(submit?.local_subject, "submit.x.y", "the plugin's submit.<type> arrives as submit.<plugin>.<type>");
  t.ok(
    imports.every((i) => i.account === bus),
    "everything comes from BUS",
  );
  t.ok(
    imports.every((i) => !/[*>]/.test(i.subject.replace(/\.\*$/, "").replace(/\.>$/, "")) || i.subject.startsWith("hb.")),
    "no import widens past the plugin's own names",
  );
});

t.test("meet and same: what is safe to push before the log records a change", async (t) => {
  t.same(meetAccess({ active: true, granted: ["a", "b"] }, { active: true, granted: ["b", "c"] }), { active: true, granted: ["b"] });
  t.same(meetAccess({ active: true, granted: ["a"] }, { active: false, granted: [] }), { active: false, granted: [] });
  t.ok(sameAccess({ active: true, granted: ["a", "b"] }, { active: true, granted: ["b", "a"] }));
  t.notOk(sameAccess({ active: true, granted: ["a"] }, { active: false, granted: ["a"] }));
});

t.test("a plugin account JWT: signed by the operator, explicit limits, no JetStream, revocations kept", async (t) => {
  const jwt = await encodePluginAccount(a, "alpha", { active: true, granted: [] }, { UKEY: 5 });
  const c = decode<Account>(jwt);
  t.equal(c.iss, a.operator.getPublicKey());
  t.equal(c.sub, pluginAccountKey(a, "alpha").getPublicKey());
  t.match(c.nats.limits, { conn: 256, subs: 10_000, mem_storage: 0, disk_storage: 0 });
  t.same(c.nats.revocations, { UKEY: 5 });
  t.same(mergeRevocations({ A: 1, B: 5 }, { B: 3, C: 2 }), { A: 1, B: 5, C: 2 }, "merging keeps every key, at its later time");
  t.same(Object.getPrototypeOf(mergeRevocations({ ["__proto__"]: 1 } as Record<string, number>)), Object.prototype);
});
