import * as t from "io-ts";
import type { Test } from "tap";
import { nuid } from "@nats-io/transport-node";
import type { EventStore, RecordedEvent } from "../../src/store/types.js";
import { InvalidEventError, InvalidStreamNameError, WrongExpectedVersionError } from "../../src/store/types.js";

/** The events the contract suite appends: small, with a field a codec can refuse. */
export const Opened = t.type({ type: t.literal("account.opened"), data: t.type({ owner: t.string }) });
export const Deposited = t.type({ type: t.literal("account.deposited"), data: t.type({ amount: t.number }) });
export const ContractEvent = t.union([Opened, Deposited]);
export type ContractEvent = t.TypeOf<typeof ContractEvent>;

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

const caught = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => "did not reject",
    (e: unknown) => e,
  );

const opened = (owner = "ada"): ContractEvent => ({ type: "account.opened", data: { owner } });
const deposited = (amount: number): ContractEvent => ({ type: "account.deposited", data: { amount } });

/**
 * The behaviour every EventStore backend must show. `make` returns a store over a fresh, empty
 * log region; each test uses its own stream names so tests do not see each other.
 */
export const eventStoreContract = (t: Test, make: () => Promise<EventStore<ContractEvent>>) => {
  const name = () => `account-${nuid.next()}`;

  t.test("append then read back, revisions from 0, positions increasing", async (t) => {
    const s = await make();
    const n = name();
    const r1 = await s.appendToStream(n, opened(), { streamState: "no_stream" });
    t.equal(r1.success, true);
    t.equal(r1.nextExpectedRevision, 0n);
    const r2 = await s.appendToStream(n, [deposited(5), deposited(7)], { streamState: 0n });
    t.equal(r2.nextExpectedRevision, 2n);
    t.ok(r2.position > r1.position);
    const evs = await collect(s.readStream(n));
    t.same(
      evs.map((e) => [e.type, e.revision]),
      [
        ["account.opened", 0n],
        ["account.deposited", 1n],
        ["account.deposited", 2n],
      ],
    );
    t.same(evs[2]!.data, { amount: 7 });
    t.equal(evs[1]!.position, evs[2]!.position, "events of one append share one position");
    t.equal(evs[0]!.streamName, n);
    t.equal(evs[0]!.schemaVersion, 1);
    t.type(evs[0]!.metadata.time, "string");
    t.type(evs[0]!.metadata.actor, "string");
    t.equal(await s.streamRevision(n), 2n);
    t.equal(await s.streamRevision(name()), "no_stream");
  });

  t.test("metadata is recorded as given", async (t) => {
    const s = await make();
    const n = name();
    await s.appendToStream(n, { ...opened(), id: "e-1", metadata: { actor: "operator:kim", correlationId: "c1", causationId: "x9" } });
    const [e] = await collect(s.readStream(n));
    t.equal(e!.id, "e-1");
    t.match(e!.metadata, { actor: "operator:kim", correlationId: "c1", causationId: "x9" });
  });

  t.test("stale expectations are WrongExpectedVersion, never a generic throw", async (t) => {
    const s = await make();
    const n = name();
    await s.appendToStream(n, opened(), { streamState: "no_stream" });
    await t.rejects(s.appendToStream(n, opened(), { streamState: "no_stream" }), WrongExpectedVersionError);
    t.match(await caught(s.appendToStream(n, deposited(1), { streamState: 5n })), { _tag: "WrongExpectedVersion", actualState: 0n });
    t.match(await caught(s.appendToStream(name(), deposited(1), { streamState: "stream_exists" })), { _tag: "WrongExpectedVersion", actualState: "no_stream" });
    await t.rejects(s.appendToStream(name(), deposited(1), { streamState: 0n }), WrongExpectedVersionError);
    await s.appendToStream(n, deposited(1), { streamState: "stream_exists" });
    t.equal((await collect(s.readStream(n))).length, 2, "nothing was appended by the refused calls");
  });

  t.test("a second writer with a stale view is refused (optimistic concurrency)", async (t) => {
    const a = await make();
    const b = await make();
    const n = name();
    await a.appendToStream(n, opened(), { streamState: "no_stream" });
    t.equal(await b.streamRevision(n), 0n);
    await a.appendToStream(n, deposited(1), { streamState: 0n });
    t.match(await caught(b.appendToStream(n, deposited(2), { streamState: 0n })), { _tag: "WrongExpectedVersion", actualState: 1n });
    // "any" from a writer with a stale cache still lands, at the right revision.
    const r = await b.appendToStream(n, deposited(3));
    t.equal(r.nextExpectedRevision, 2n);
  });

  t.test("concurrent appends with the same expectation: exactly one wins", async (t) => {
    const stores = await Promise.all([make(), make(), make(), make()]);
    const n = name();
    await stores[0]!.appendToStream(n, opened(), { streamState: "no_stream" });
    const results = await Promise.allSettled(stores.map((s, i) => s.appendToStream(n, deposited(i), { streamState: 0n })));
    t.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    t.ok(results.filter((r) => r.status === "rejected").every((r) => (r as PromiseRejectedResult).reason instanceof WrongExpectedVersionError));
    t.equal((await collect(stores[1]!.readStream(n))).length, 2);
  });

  t.test("a retried append with the same event ids is not duplicated", async (t) => {
    const s = await make();
    const n = name();
    const batch = [
      { ...opened(), id: nuid.next() },
      { ...deposited(1), id: nuid.next() },
    ];
    const r1 = await s.appendToStream(n, batch);
    const r2 = await s.appendToStream(n, batch);
    t.equal(r2.position, r1.position);
    t.equal(r2.nextExpectedRevision, r1.nextExpectedRevision);
    const single = { ...deposited(2), id: nuid.next() };
    await s.appendToStream(n, single);
    await s.appendToStream(n, single);
    t.equal((await collect(s.readStream(n))).length, 3);
  });

  t.test("data that fails its codec is refused before anything is appended, with the path", async (t) => {
    const s = await make();
    const n = name();
    const bad = [opened(), { type: "account.deposited", data: { amount: "ten" } }] as unknown as ContractEvent[];
    const err = await s.appendToStream(n, bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(err, InvalidEventError);
    t.match((err as InvalidEventError).message, /\[1\].*amount/);
    t.equal(await s.streamRevision(n), "no_stream", "the valid first event was not appended either");
    await t.rejects(s.appendToStream(n, { type: "account.closed", data: {} } as unknown as ContractEvent), InvalidEventError);
    await t.rejects(s.appendToStream(n, []), InvalidEventError);
  });

  t.test("stream names that are not subject tokens are refused", async (t) => {
    const s = await make();
    for (const bad of ["noid", "a.b-c", "plugin-x.y", "plugin-*", "plugin->", "Plugin-x", "plugin-x y", "-x", ""]) {
      await t.rejects(s.appendToStream(bad, opened()), InvalidStreamNameError, bad);
    }
  });

  t.test("readStream: fromRevision, backwards, maxCount", async (t) => {
    const s = await make();
    const n = name();
    await s.appendToStream(n, [opened(), deposited(1), deposited(2), deposited(3)]);
    const rev = (es: RecordedEvent<ContractEvent>[]) => es.map((e) => e.revision);
    t.same(rev(await collect(s.readStream(n, { fromRevision: 2n }))), [2n, 3n]);
    t.same(rev(await collect(s.readStream(n, { direction: "backwards" }))), [3n, 2n, 1n, 0n]);
    t.same(rev(await collect(s.readStream(n, { direction: "backwards", fromRevision: 1n }))), [1n, 0n]);
    t.same(rev(await collect(s.readStream(n, { maxCount: 2 }))), [0n, 1n]);
    t.same(rev(await collect(s.readStream(name()))), [], "an absent stream reads as empty");
  });

  t.test("readAll: positions, filters, backwards", async (t) => {
    const s = await make();
    const a = name();
    const b = `ledger-${nuid.next()}`;
    const start = (await s.headPosition()) + 1n;
    await s.appendToStream(a, opened());
    await s.appendToStream(b, opened("bob"));
    await s.appendToStream(a, deposited(4));
    const all = await collect(s.readAll({ fromPosition: start }));
    const mine = all.filter((e) => e.streamName === a || e.streamName === b);
    t.same(
      mine.map((e) => e.streamName),
      [a, b, a],
    );
    t.ok(mine.every((e, i) => i === 0 || e.position > mine[i - 1]!.position));
    const ledgers = await collect(s.readAll({ fromPosition: start, filter: { categories: ["ledger"] } }));
    t.same(
      ledgers.map((e) => e.streamName),
      [b],
    );
    const deposits = await collect(s.readAll({ fromPosition: start, filter: { eventTypePrefixes: ["account.dep"] } }));
    t.ok(deposits.length >= 1 && deposits.every((e) => e.type === "account.deposited"));
    const back = await collect(s.readAll({ direction: "backwards", maxCount: 2 }));
    t.equal(back.length, 2);
    t.ok(back[0]!.position > back[1]!.position);
    t.same(await collect(s.readAll({ fromPosition: "end" })), []);
  });

  t.test("subscribeToAll: history, caughtUp, then the live tail; from a checkpoint", async (t) => {
    const s = await make();
    const n = name();
    const r0 = await s.appendToStream(n, opened());
    await s.appendToStream(n, deposited(1));
    const sub = s.subscribeToAll({ fromPosition: r0.position - 1n, filter: { categories: ["account"] } });
    const seen: bigint[] = [];
    let caught = false;
    void sub.caughtUp.then(() => (caught = true));
    const done = (async () => {
      for await (const e of sub) {
        if (e.streamName !== n) continue;
        seen.push(e.revision);
        if (e.revision === 1n) {
          await sub.caughtUp;
          t.ok(caught, "caughtUp after history");
          await s.appendToStream(n, deposited(2));
        }
        if (e.revision === 2n) break;
      }
    })();
    await done;
    t.same(seen, [0n, 1n, 2n]);
    await sub.unsubscribe();
    // From a checkpoint: only what comes after it.
    const sub2 = s.subscribeToStream(n, { fromPosition: r0.position });
    for await (const e of sub2) {
      t.equal(e.revision, 1n);
      break;
    }
  });
};
