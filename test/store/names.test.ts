import t from "tap";
import { streamNameToSubject, subjectToStreamName } from "../../src/store/eventStore.js";
import { InvalidStreamNameError } from "../../src/store/types.js";
import { durationToNanos } from "../../src/store/streamDefinitions.js";
import { renderServerConfig } from "../../src/embedded/config.js";
import { parseVersion, versionAtLeast } from "../../src/embedded/natsServer.js";

t.test("stream names map to ev.<category>.<id> and back", async (t) => {
  t.equal(streamNameToSubject("plugin-foo"), "ev.plugin.foo");
  t.equal(streamNameToSubject("task-abc-def_1"), "ev.task.abc-def_1");
  t.equal(subjectToStreamName("ev.task.abc-def_1"), "task-abc-def_1");
  for (const bad of ["plugin", "plugin-", "Plugin-x", "plugin-a.b", "plugin-*", "plugin->", "1plugin-x", "plugin-x y", "plugin-\u00e9"]) {
    t.throws(() => streamNameToSubject(bad), InvalidStreamNameError, bad);
  }
});

t.test("durations in stream definitions", async (t) => {
  t.equal(durationToNanos("2m"), 120e9);
  t.equal(durationToNanos("500ms"), 500e6);
  t.equal(durationToNanos(0), 0);
  t.equal(durationToNanos("0"), 0);
  t.throws(() => durationToNanos("two minutes"), /not a duration/);
});

t.test("server versions", async (t) => {
  t.same(parseVersion("nats-server: v2.9.10"), [2, 9, 10]);
  t.ok(versionAtLeast("2.9.10", "2.9.0"));
  t.ok(versionAtLeast("2.10.0", "2.9.10"));
  t.notOk(versionAtLeast("2.8.4", "2.9.0"));
  t.notOk(versionAtLeast("garbage", "2.9.0"));
});

t.test("the server config is operator mode with the full resolver", async (t) => {
  const c = renderServerConfig({
    host: "127.0.0.1",
    port: -1,
    operatorJwt: "OPJWT",
    systemAccount: "ASYS",
    preload: { ASYS: "SYSJWT", ABUS: "BUSJWT" },
    storeDir: "/d/js",
    resolverDir: "/d/res",
  });
  t.match(c, /operator: "OPJWT"/);
  t.match(c, /system_account: "ASYS"/);
  t.match(c, /type: full/);
  t.match(c, /ABUS: "BUSJWT"/);
  t.match(c, /store_dir: "\/d\/js"/);
  t.notMatch(c, /cluster/);
});
