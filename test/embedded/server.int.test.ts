import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import { startTestServer } from "../support/natsServer.js";

const server = await startTestServer();
t.teardown(server.stop);

t.test("admin credentials reach JetStream in the BUS account", async (t) => {
  const nc = await server.connectAdmin();
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const info = await jsm.getAccountInfo();
  t.equal(info.streams, 0);
});
