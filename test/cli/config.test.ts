import t from "tap";
import { ConfigError, decodeConfig, DEFAULT_DATA_DIR } from "../../src/config.js";

t.test("defaults", async (t) => {
  t.same(decodeConfig({}), {
    natsUrl: undefined,
    creds: undefined,
    dataDir: DEFAULT_DATA_DIR,
    logLevel: "info",
    natsServerBin: undefined,
    path: undefined,
  });
});

t.test("reads the Ganglion variables; empty ones count as unset", async (t) => {
  const c = decodeConfig({
    GANGLION_NATS_URL: "nats://h:1",
    GANGLION_CREDS: "/c",
    GANGLION_DATA_DIR: "",
    GANGLION_LOG_LEVEL: "debug",
    NATS_SERVER_BIN: "/bin/ns",
    PATH: "/usr/bin",
    UNRELATED: "x",
  });
  t.equal(c.natsUrl, "nats://h:1");
  t.equal(c.creds, "/c");
  t.equal(c.dataDir, DEFAULT_DATA_DIR);
  t.equal(c.logLevel, "debug");
  t.equal(c.natsServerBin, "/bin/ns");
});

t.test("an unknown log level is refused, naming the variable", async (t) => {
  t.throws(() => decodeConfig({ GANGLION_LOG_LEVEL: "loud" }), ConfigError);
  t.throws(() => decodeConfig({ GANGLION_LOG_LEVEL: "loud" }), /GANGLION_LOG_LEVEL/);
});

t.test("an empty GANGLION_NATS_URL is an error, never a silent fall-back to another bus", async (t) => {
  t.throws(() => decodeConfig({ GANGLION_NATS_URL: "" }), /GANGLION_NATS_URL is set but empty/);
  t.throws(() => decodeConfig({ GANGLION_NATS_URL: "  " }), ConfigError);
  t.doesNotThrow(() => decodeConfig({}));
});
