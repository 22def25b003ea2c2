import t from "tap";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import type { Skipped } from "../../src/store/types.js";
import { startTestServer } from "../support/natsServer.js";
import { ContractEvent, eventStoreContract } from "./contract.js";

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin();
t.teardown(() => nc.close());
await applyDefinitions(nc, await jetstreamManager(nc), await loadDefinitions());

t.test("JetStream backend passes the event store contract", async (t) => {
  eventStoreContract(t, async () => natsEventStore(nc, { codec: ContractEvent }));
});

t.test("a foreign, undecodable message is reported with its position and skipped", async (t) => {
  const skipped: Skipped[] = [];
  const s = natsEventStore(nc, { codec: ContractEvent, onSkipped: (x) => skipped.push(x) });
  const n = `account-foreign${Date.now()}`;
  await s.appendToStream(n, { type: "account.opened", data: { owner: "x" } });
  const js = jetstream(nc);
  const subject = `ev.account.${n.slice("account-".length)}`;
  const junk = await js.publish(subject, "not json");
  const h = headers();
  h.set("Ganglion-Revision", "2");
  await js.publish(
    subject,
    JSON.stringify({ events: [{ id: "z", type: "account.deposited", schemaVersion: 1, data: { amount: "NaN" }, metadata: { actor: "x", time: "t" } }] }),
    { headers: h },
  );
  await s.appendToStream(n, { type: "account.deposited", data: { amount: 3 } });
  const evs = [];
  for await (const e of s.readStream(n)) evs.push(e);
  t.same(
    evs.map((e) => e.type),
    ["account.opened", "account.deposited"],
  );
  t.ok(skipped.some((x) => x.position === BigInt(junk.seq) && /not JSON/.test(x.errors[0]!)));
  t.ok(
    skipped.some((x) => /amount/.test(x.errors.join(" "))),
    "a codec failure names the path",
  );
  // A subscription skips them too and carries on.
  const sub = s.subscribeToStream(n);
  const got: string[] = [];
  for await (const e of sub) {
    got.push(e.type);
    if (got.length === 2) break;
  }
  t.same(got, ["account.opened", "account.deposited"]);
});

t.test("scanAll hands out what readAll does, commit by commit, up to the head when called", async (t) => {
  const s = natsEventStore(nc, { codec: ContractEvent });
  const tag = `scan${Date.now()}`;
  await s.appendToStream(`account-${tag}a`, [
    { type: "account.opened", data: { owner: "a" } },
    { type: "account.deposited", data: { amount: 1 } },
  ]);
  await s.appendToStream(`account-${tag}b`, { type: "account.opened", data: { owner: "b" } });
  await s.appendToStream(`account-${tag}a`, { type: "account.deposited", data: { amount: 2 } });
  const filter = { categories: ["account"], eventTypePrefixes: ["account.deposited"] };
  const read = [];
  for await (const e of s.readAll({ filter })) read.push(e);
  const scanned: { id: string; position: bigint }[][] = [];
  const head = await s.scanAll!({ filter }, (evs) => void scanned.push(evs));
  t.equal(head, await s.headPosition());
  t.same(
    scanned.flat().map((e) => e.id),
    read.map((e) => e.id),
    "the same events in the same order",
  );
  t.ok(
    scanned.every((c) => c.every((e) => e.position === c[0]!.position)),
    "each callback holds one commit",
  );
  t.equal(await s.scanAll!({ fromPosition: head + 1n }, () => t.fail("nothing past the head")), head);
});

t.test("a trusting reader reads what the store wrote as a strict one does, and still refuses a wrong envelope", async (t) => {
  const skipped: Skipped[] = [];
  const strict = natsEventStore(nc, { codec: ContractEvent });
  const trusting = natsEventStore(nc, { codec: ContractEvent, trustLog: true, onSkipped: (x) => skipped.push(x) });
  const n = `account-trust${Date.now()}`;
  await strict.appendToStream(n, [
    { type: "account.opened", data: { owner: "o" } },
    { type: "account.deposited", data: { amount: 5 } },
  ]);
  await jetstream(nc).publish(`ev.account.${n.slice("account-".length)}`, JSON.stringify({ events: [{ id: 1, type: "account.opened" }] }));
  const a = [];
  for await (const e of strict.readStream(n)) a.push(e);
  const b = [];
  for await (const e of trusting.readStream(n)) b.push(e);
  t.same(b, a);
  t.equal(skipped.length, 1, "the malformed envelope gets the full decode and is skipped");
});
