import type { Test } from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import { GanglionEvent } from "../../src/events/index.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { startTestServer } from "./natsServer.js";

/**
 * A test server holding only the EVENTS stream, an admin connection and an event store of every
 * Ganglion event: the set-up of tests that write a log and read views from it. Torn down with `t`.
 */
export const startEventLog = async (t: Test) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const nc = await server.connectAdmin();
  t.teardown(() => nc.close());
  await applyDefinitions(
    nc,
    await jetstreamManager(nc),
    (await loadDefinitions()).filter((d) => d.kind === "stream" && d.config.name === "EVENTS"),
  );
  const store = natsEventStore(nc, { codec: GanglionEvent });
  return { server, nc, store };
};
