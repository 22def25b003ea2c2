import t from "tap";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { pipelinedPublisher } from "../../src/store/publisher.js";
import { StoreUnavailableError } from "../../src/store/types.js";
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

t.test("pipelined appends: one store, many in flight on one stream, land in call order", async (t) => {
  const s = natsEventStore(nc, { codec: ContractEvent });
  const n = `account-pipe${Date.now()}`;
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => s.appendToStream(n, { type: "account.deposited", data: { amount: i } })));
  t.same(
    results.map((r) => r.nextExpectedRevision),
    Array.from({ length: 200 }, (_, i) => BigInt(i)),
    "each call got the next revision, in call order",
  );
  const read = [];
  for await (const e of s.readStream(n)) read.push((e.data as { amount: number }).amount);
  t.same(
    read,
    Array.from({ length: 200 }, (_, i) => i),
  );
  // Expected revisions given for all of them up front: each is checked against the head the one
  // before it left, so all land.
  const more = await Promise.all(
    Array.from({ length: 50 }, (_, i) => s.appendToStream(n, { type: "account.deposited", data: { amount: 200 + i } }, { streamState: BigInt(199 + i) })),
  );
  t.equal(more.at(-1)!.nextExpectedRevision, 249n);
});

t.test("pipelined appends: an error belongs to its own append, the others land", async (t) => {
  const s = natsEventStore(nc, { codec: ContractEvent });
  const n = `account-perr${Date.now()}`;
  const calls = Array.from({ length: 30 }, (_, i) =>
    i === 10
      ? s.appendToStream(n, { type: "account.deposited", data: { amount: i } }, { streamState: 3n }) // the stream will be at 9
      : i === 20
        ? s.appendToStream(n, { type: "account.deposited", data: { amount: "twenty" as unknown as number } })
        : s.appendToStream(n, { type: "account.deposited", data: { amount: i } }),
  );
  const settled = await Promise.allSettled(calls);
  t.match((settled[10] as PromiseRejectedResult).reason, { _tag: "WrongExpectedVersion", actualState: 9n });
  t.match((settled[20] as PromiseRejectedResult).reason, { _tag: "InvalidEvent" });
  t.equal(settled.filter((r) => r.status === "fulfilled").length, 28);
  const read = [];
  for await (const e of s.readStream(n)) read.push((e.data as { amount: number }).amount);
  t.same(
    read,
    Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 10 && i !== 20),
  );
});

t.test("pipelined appends over many streams keep each stream's order", async (t) => {
  const s = natsEventStore(nc, { codec: ContractEvent });
  const tag = `pmany${Date.now()}`;
  await Promise.all(Array.from({ length: 1000 }, (_, i) => s.appendToStream(`account-${tag}x${i % 50}`, { type: "account.deposited", data: { amount: i } })));
  for (const k of [0, 17, 49]) {
    const read = [];
    for await (const e of s.readStream(`account-${tag}x${k}`)) read.push((e.data as { amount: number }).amount);
    t.same(
      read,
      Array.from({ length: 20 }, (_, j) => k + 50 * j),
      `stream ${k}`,
    );
  }
});

t.test("pipelined appends: a connection closed under them fails what is in flight, nothing hangs", async (t) => {
  const c = await server.connectAdmin();
  const s = natsEventStore(c, { codec: ContractEvent });
  const n = `account-pclose${Date.now()}`;
  await s.appendToStream(n, { type: "account.opened", data: { owner: "o" } });
  const calls = Array.from({ length: 500 }, (_, i) => s.appendToStream(`${n}x${i % 20}`, { type: "account.deposited", data: { amount: i } }));
  await c.close();
  const settled = await Promise.allSettled(calls);
  t.ok(
    settled.filter((r) => r.status === "rejected").every((r) => (r as PromiseRejectedResult).reason instanceof StoreUnavailableError),
    "every failure is the store being out of reach",
  );
  await t.rejects(s.appendToStream(n, { type: "account.deposited", data: { amount: 1 } }), StoreUnavailableError);
});

t.test("the pipelined publisher: no stream is no responders, no answer is a timeout, one subscription for all", async (t) => {
  const p = pipelinedPublisher(nc, 300);
  const subject = `nostream.${Date.now()}`;
  await t.rejects(p.publish(subject, "x", headers()), { name: "NoResponders", subject });
  const silent = nc.subscribe("bench.silent.>");
  t.teardown(() => silent.unsubscribe());
  await nc.flush();
  await t.rejects(p.publish("bench.silent.a", "x", headers()), { name: "TimeoutError" });
  // A reply that is not JSON, and one that is not an ack, each fail their own publish only.
  const liar = nc.subscribe("bench.liar.>", { callback: (_e, m) => void m.respond(m.subject.endsWith("a") ? "{" : "{}") });
  t.teardown(() => liar.unsubscribe());
  await nc.flush();
  const [a, b] = await Promise.allSettled([p.publish("bench.liar.a", "x", headers()), p.publish("bench.liar.b", "x", headers())]);
  t.equal(a.status, "rejected");
  t.match((b as PromiseRejectedResult).reason, { message: "invalid ack response" });
  p.close();
});
