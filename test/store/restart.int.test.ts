import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import type { RecordedEvent } from "../../src/store/types.js";
import { startTestServer } from "../support/natsServer.js";
import { ContractEvent } from "./contract.js";

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin();
t.teardown(() => nc.close());
await applyDefinitions(nc, await jetstreamManager(nc), await loadDefinitions());
const store = natsEventStore(nc, { codec: ContractEvent });

/** Appends, retrying while the server is away (the client reconnects by itself). */
const appendRetrying = async (name: string, amount: number) => {
  for (let i = 0; ; i++) {
    try {
      return await store.appendToStream(name, { type: "account.deposited", data: { amount }, id: `${name}-${amount}` });
    } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};

t.test("a subscription survives a nats-server restart: nothing lost, nothing handed twice", async (t) => {
  const n = "account-restart";
  for (let i = 0; i < 50; i++) await appendRetrying(n, i);
  const sub = store.subscribeToStream(n);
  const seen: RecordedEvent<ContractEvent>[] = [];
  let restarted = false;
  for await (const e of sub) {
    seen.push(e);
    if (seen.length === 20 && !restarted) {
      restarted = true;
      await server.kill();
      await server.restart();
      for (let i = 50; i < 100; i++) await appendRetrying(n, i);
    }
    if (seen.length === 100) break;
  }
  await sub.unsubscribe();
  t.same(
    seen.map((e) => (e.data as { amount: number }).amount),
    Array.from({ length: 100 }, (_, i) => i),
    "every event once, in order",
  );
  t.same(
    seen.map((e) => e.revision),
    Array.from({ length: 100 }, (_, i) => BigInt(i)),
  );
});

t.test("appended events survive a restart of the server", async (t) => {
  const n = "account-durable";
  await store.appendToStream(n, [
    { type: "account.opened", data: { owner: "ada" } },
    { type: "account.deposited", data: { amount: 1 } },
  ]);
  await server.kill();
  await server.restart();
  const evs: RecordedEvent<ContractEvent>[] = [];
  for (let i = 0; evs.length === 0 && i < 100; i++) {
    try {
      for await (const e of store.readStream(n)) evs.push(e);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.same(
    evs.map((e) => e.type),
    ["account.opened", "account.deposited"],
  );
  t.equal(await store.streamRevision(n), 1n);
});
