import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { evolve, initialState, pendingCapabilities, pluginDecider } from "../../src/plugins/decider.js";
import { deciderSpec } from "../../src/es/spec.js";
import type { PluginCommand } from "../../src/plugins/decider.js";
import { decodeManifest } from "../../src/plugins/manifest.js";
import type { Manifest } from "../../src/plugins/manifest.js";
import type { PluginEvent } from "../../src/events/plugin.js";
import { PluginEvent as PluginEventCodec } from "../../src/events/plugin.js";

const manifest = (over: string = "", version = "1.0.0", caps = "[topic.publish:text.counted, provider.chat]"): Manifest => {
  const d = decodeManifest(`
id: wordcount
version: ${version}
description: Counts words
provides:
  - type: text.wordcount
    description: count
    params: { type: object }
    result: { type: object }
    timeout: 30s
capabilities: ${caps}
${over}`);
  if (E.isLeft(d)) throw new Error(d.left.join("\n"));
  return d.right;
};

const given = deciderSpec(pluginDecider);

const m1 = manifest();
const registered: PluginEvent = { type: "plugin.registered", data: { pluginId: "wordcount", version: "1.0.0", manifest: m1, selfRegistered: false } };
const grantedAll: PluginEvent = {
  type: "plugin.capabilities.granted",
  data: { pluginId: "wordcount", capabilities: ["topic.publish:text.counted", "provider.chat"] },
};
const issued: PluginEvent = {
  type: "plugin.credentials.issued",
  data: { pluginId: "wordcount", publicKey: "UKEY1", expiresAt: null, capabilities: ["topic.publish:text.counted", "provider.chat"] },
};

t.test("install on nothing registers the plugin, pending", async (t) => {
  t.same(given([]).when({ type: "install", manifest: m1 }), E.right([registered]));
  const s = given([registered]).state();
  t.equal(s.status, "pending");
  t.same(pendingCapabilities(s), ["topic.publish:text.counted", "provider.chat"]);
});

t.test("install with --yes grants everything asked for, in the same decision", async (t) => {
  t.same(given([]).when({ type: "install", manifest: m1, grant: "all" }), E.right([registered, grantedAll]));
});

t.test("install with a subset grants only that subset; asking for more than the manifest is refused", async (t) => {
  t.same(
    given([]).when({ type: "install", manifest: m1, grant: ["provider.chat"] }),
    E.right([registered, { type: "plugin.capabilities.granted", data: { pluginId: "wordcount", capabilities: ["provider.chat"] } }]),
  );
  const r = given([]).when({ type: "install", manifest: m1, grant: ["secret.read:db"] });
  t.ok(E.isLeft(r));
  if (E.isLeft(r)) {
    t.equal(r.left._tag, "NotRequested");
    t.match(r.left.message, /does not ask for secret\.read:db/);
  }
});

t.test("dev-mode auto approval says so in the event", async (t) => {
  const automatic = { automatic: true as const, reason: "dev mode: self-registered with the dev bootstrap credentials" };
  const r = given([]).when({ type: "install", manifest: m1, grant: "all", selfRegistered: true, automatic });
  t.same(
    r,
    E.right([
      { ...registered, data: { ...registered.data, selfRegistered: true } },
      { type: "plugin.capabilities.granted", data: { ...grantedAll.data, automatic } },
    ]),
  );
});

t.test("installing the same manifest twice is a no-op, even written differently", async (t) => {
  t.same(given([registered]).when({ type: "install", manifest: m1 }), E.right([]));
  const same = manifest("limits: { concurrency: 4, rate: 100/s }");
  t.same(given([registered, grantedAll]).when({ type: "install", manifest: same }), E.right([]));
  t.same(given([registered, grantedAll]).when({ type: "install", manifest: same, grant: "all" }), E.right([]));
});

t.test("a different manifest under the same version is a conflict", async (t) => {
  const r = given([registered]).when({ type: "install", manifest: manifest("limits: { concurrency: 9 }") });
  t.ok(E.isLeft(r));
  if (E.isLeft(r)) {
    t.equal(r.left._tag, "ManifestConflict");
    t.match(r.left.message, /already installed with a different manifest/);
  }
});

t.test("an older version is refused", async (t) => {
  const r = given([registered]).when({ type: "install", manifest: manifest("", "0.9.0") });
  t.equal(E.isLeft(r) && r.left._tag, "Downgrade");
});

t.test("versions compare as semver: 1.0.0-rc.10 upgrades 1.0.0-rc.2, and 1.0.0-rc.2 over 1.0.0-rc.10 is a downgrade", async (t) => {
  const at = (v: string): PluginEvent => ({
    type: "plugin.registered",
    data: { pluginId: "wordcount", version: v, manifest: manifest("", v), selfRegistered: false },
  });
  const up = given([at("1.0.0-rc.2")]).when({ type: "install", manifest: manifest("", "1.0.0-rc.10") });
  t.equal(E.isRight(up) && up.right[0]?.type, "plugin.upgraded");
  const down = given([at("1.0.0-rc.10")]).when({ type: "install", manifest: manifest("", "1.0.0-rc.2") });
  t.equal(E.isLeft(down) && down.left._tag, "Downgrade");
  const release = given([at("1.0.0-rc.10")]).when({ type: "install", manifest: manifest("", "1.0.0") });
  t.equal(E.isRight(release) && release.right[0]?.type, "plugin.upgraded", "a release is newer than its pre-releases");
  const minor = given([at("1.9.0")]).when({ type: "install", manifest: manifest("", "1.10.0") });
  t.equal(E.isRight(minor) && minor.right[0]?.type, "plugin.upgraded", "numeric, not lexical, order");
});

t.test("upgrade carries grants over, new capabilities are pending, dropped ones leave with the upgrade (credentials stay)", async (t) => {
  const m2 = manifest("", "1.1.0", "[topic.publish:text.counted, secret.read:db]");
  const r = given([registered, grantedAll, issued]).when({ type: "install", manifest: m2 });
  t.same(
    r,
    E.right([
      {
        type: "plugin.upgraded",
        data: {
          pluginId: "wordcount",
          fromVersion: "1.0.0",
          version: "1.1.0",
          manifest: m2,
          carriedOver: ["topic.publish:text.counted"],
          pending: ["secret.read:db"],
          dropped: ["provider.chat"],
        },
      },
    ]),
  );
  const s = given([registered, grantedAll, issued, ...(E.isRight(r) ? r.right : [])]).state();
  t.equal(s.status, "active");
  t.same(pendingCapabilities(s), ["secret.read:db"]);
  if (s.status !== "absent") {
    t.same(s.granted, ["topic.publish:text.counted"], "the account follows the grants: provider.chat's import goes");
    t.same(s.liveKeys, [{ publicKey: "UKEY1", expiresAt: null }], "the live credentials stay valid");
  }
});

t.test("approve grants a subset; approving again is a no-op; the first approval activates even with nothing", async (t) => {
  t.same(
    given([registered]).when({ type: "approve", pluginId: "wordcount", capabilities: ["provider.chat"] }),
    E.right([{ type: "plugin.capabilities.granted", data: { pluginId: "wordcount", capabilities: ["provider.chat"] } }]),
  );
  t.same(given([registered, grantedAll]).when({ type: "approve", pluginId: "wordcount", capabilities: ["provider.chat"] }), E.right([]));
  const none = given([registered]).when({ type: "approve", pluginId: "wordcount", capabilities: [] });
  t.same(none, E.right([{ type: "plugin.capabilities.granted", data: { pluginId: "wordcount", capabilities: [] } }]));
  t.equal(given([registered, ...(E.isRight(none) ? none.right : [])]).state().status, "active");
  t.equal(E.isLeft(given([]).when({ type: "approve", pluginId: "nope", capabilities: "all" })) && "left", "left");
});

t.test("revoke needs a grant; it takes the capability off the account and leaves the credentials valid", async (t) => {
  t.same(
    given([registered, grantedAll, issued]).when({ type: "revoke", pluginId: "wordcount", capabilities: ["provider.chat"] }),
    E.right([{ type: "plugin.capability.revoked", data: { pluginId: "wordcount", capabilities: ["provider.chat"] } }]),
  );
  const r = given([registered]).when({ type: "revoke", pluginId: "wordcount", capabilities: ["provider.chat"] });
  t.equal(E.isLeft(r) && r.left._tag, "NotGranted");
});

t.test("disable revokes live keys; disabling twice is a no-op; enable brings it back", async (t) => {
  const d = given([registered, grantedAll, issued]).when({ type: "disable", pluginId: "wordcount", reason: "too many failures", automatic: true });
  t.same(
    d,
    E.right([
      { type: "plugin.credentials.revoked", data: { pluginId: "wordcount", publicKeys: ["UKEY1"], reason: "disabled: too many failures" } },
      { type: "plugin.disabled", data: { pluginId: "wordcount", reason: "too many failures", automatic: true } },
    ]),
  );
  const after = [registered, grantedAll, issued, ...(E.isRight(d) ? d.right : [])];
  t.same(given(after).when({ type: "disable", pluginId: "wordcount", reason: "again" }), E.right([]));
  const creds = given(after).when({ type: "issueCredentials", pluginId: "wordcount", publicKey: "UKEY2", expiresAt: null, at: "2026-01-01T00:00:00Z" });
  t.equal(E.isLeft(creds) && creds.left._tag, "Disabled");
  t.same(given(after).when({ type: "enable", pluginId: "wordcount" }), E.right([{ type: "plugin.enabled", data: { pluginId: "wordcount" } }]));
  t.same(given([registered, grantedAll]).when({ type: "enable", pluginId: "wordcount" }), E.right([]));
  const enabled = [...after, { type: "plugin.enabled", data: { pluginId: "wordcount" } } as PluginEvent];
  t.equal(given(enabled).state().status, "active");
  t.ok(E.isRight(given(enabled).when({ type: "issueCredentials", pluginId: "wordcount", publicKey: "UKEY2", expiresAt: null, at: "2026-01-01T00:00:00Z" })));
});

t.test("credentials need an approved, enabled plugin and record the grants they carry", async (t) => {
  const r = given([registered]).when({ type: "issueCredentials", pluginId: "wordcount", publicKey: "UKEY1", expiresAt: null, at: "2026-01-01T00:00:00Z" });
  t.equal(E.isLeft(r) && r.left._tag, "NotApproved");
  t.same(
    given([registered, grantedAll]).when({ type: "issueCredentials", pluginId: "wordcount", publicKey: "UKEY1", expiresAt: null, at: "2026-01-01T00:00:00Z" }),
    E.right([issued]),
  );
});

t.test("remove revokes, is idempotent, and a new install starts over", async (t) => {
  const r = given([registered, grantedAll, issued]).when({ type: "remove", pluginId: "wordcount" });
  t.same(
    r,
    E.right([
      { type: "plugin.credentials.revoked", data: { pluginId: "wordcount", publicKeys: ["UKEY1"], reason: "removed" } },
      { type: "plugin.removed", data: { pluginId: "wordcount" } },
    ]),
  );
  const after = [registered, grantedAll, issued, ...(E.isRight(r) ? r.right : [])];
  t.same(given(after).when({ type: "remove", pluginId: "wordcount" }), E.right([]));
  t.same(given(after).when({ type: "install", manifest: m1 }), E.right([registered]));
  t.equal(given([...after, registered]).state().status, "pending");
  t.equal(E.isLeft(given([]).when({ type: "remove", pluginId: "wordcount" })), true);
});

t.test("every decided event passes the event codec (what the store will check)", async (t) => {
  const all = [registered, grantedAll, issued];
  for (const e of all) t.ok(E.isRight(PluginEventCodec.decode(JSON.parse(JSON.stringify(e)))), e.type);
});
