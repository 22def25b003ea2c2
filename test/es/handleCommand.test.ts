import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import type { Decider } from "../../src/es/decider.js";
import { commandHandler, MAX_COMMAND_ATTEMPTS } from "../../src/es/handleCommand.js";
import { deciderSpec } from "../../src/es/spec.js";
import { WrongExpectedVersionError } from "../../src/store/types.js";
import type { EventStore, RecordedEvent } from "../../src/store/types.js";

/** A counter: `add` appends `added`, refused past a limit. Small enough to see the kit work. */
type Ev = { type: "added"; data: { n: number } };
type Cmd = { type: "add"; n: number };
const counter: Decider<number, Cmd, Ev, { _tag: "TooMuch" }> = {
  initialState: () => 0,
  evolve: (s, e) => s + e.data.n,
  decide: (c, s) => (s + c.n > 10 ? E.left({ _tag: "TooMuch" }) : c.n === 0 ? E.right([]) : E.right([{ type: "added", data: { n: c.n } }])),
};

/** An in-memory store with the optimistic-concurrency rule of the real one; `race` appends behind the handler's back. */
const memoryStore = () => {
  const streams = new Map<string, RecordedEvent<Ev>[]>();
  let position = 0n;
  const appended: { meta: unknown }[] = [];
  const store = {
    appendToStream: async (name: string, events: (Ev & { metadata?: unknown })[], o: { streamState: unknown }) => {
      const cur = streams.get(name) ?? [];
      const at = cur.length === 0 ? "no_stream" : BigInt(cur.length - 1);
      if (o.streamState !== "any" && o.streamState !== at) throw new WrongExpectedVersionError(name, o.streamState as never, at);
      for (const e of events) {
        cur.push({
          ...e,
          id: `${name}-${cur.length}`,
          streamName: name,
          revision: BigInt(cur.length),
          position: ++position,
          schemaVersion: 1,
          metadata: e.metadata as never,
          created: new Date(),
        });
        appended.push({ meta: e.metadata });
      }
      streams.set(name, cur);
      return { success: true as const, nextExpectedRevision: BigInt(cur.length - 1), position };
    },
    readStream: async function* (name: string) {
      yield* streams.get(name) ?? [];
    },
  } as unknown as EventStore<Ev>;
  return { store, streams, appended, race: (name: string, n: number) => store.appendToStream(name, [{ type: "added", data: { n } }], { streamState: "any" }) };
};

const meta = { actor: "operator:test", time: new Date("2026-12-01T00:00:00Z"), correlationId: "c1" };

t.test("decides on the loaded state, appends with its revision, stamps actor, time and correlation", async (t) => {
  const m = memoryStore();
  const h = commandHandler(m.store, counter, { streamName: (id) => `counter-${id}` });
  t.match(await h.handle("a", { type: "add", n: 3 }, meta), E.right({ events: [{ type: "added" }], before: 0, state: 3, revision: 0n }));
  t.match(await h.handle("a", { type: "add", n: 4 }, meta), E.right({ before: 3, state: 7, revision: 1n }));
  t.same(m.appended[0]!.meta, { actor: "operator:test", time: "2026-12-01T00:00:00.000Z", correlationId: "c1" });
  t.match(await h.handle("a", { type: "add", n: 0 }, meta), E.right({ events: [], state: 7, revision: 1n }), "nothing to do: nothing appended");
  t.match(await h.handle("a", { type: "add", n: 9 }, meta), E.left({ _tag: "TooMuch" }), "a rejection is data");
  t.equal(m.streams.get("counter-a")!.length, 2);
});

t.test("a lost race is decided again on a fresh read; a cached state is trusted for one try", async (t) => {
  const m = memoryStore();
  const cache = new Map<string, { state: number; revision: bigint | "no_stream" }>();
  const h = commandHandler(m.store, counter, {
    streamName: (id) => `counter-${id}`,
    cache: { get: (id) => cache.get(id), set: (id, l) => cache.set(id, l), drop: (id) => cache.delete(id) },
  });
  await h.handle("b", { type: "add", n: 1 }, meta);
  await m.race("counter-b", 5); // another replica appended: the cached state is stale
  t.match(await h.handle("b", { type: "add", n: 2 }, meta), E.right({ before: 6, state: 8 }), "decided on the fresh state after the conflict");
  await m.race("counter-b", 2); // now 10: the cached 8 would allow +2, the fresh state refuses
  t.match(await h.handle("b", { type: "add", n: 1 }, meta), E.left({ _tag: "TooMuch" }), "a rejection is only answered after a fresh read");
});

t.test("gives up after the retry budget: the conflict is reported, not hidden", async (t) => {
  const m = memoryStore();
  let tries = 0;
  const racing = {
    ...m.store,
    appendToStream: async (...a: Parameters<EventStore<Ev>["appendToStream"]>) => {
      tries++;
      await m.race("counter-c", 0 + 1);
      return m.store.appendToStream(...a);
    },
  } as EventStore<Ev>;
  const h = commandHandler(
    racing,
    { ...counter, decide: (c: Cmd) => E.right([{ type: "added" as const, data: { n: c.n } }]) },
    { streamName: (id) => `counter-${id}` },
  );
  await t.rejects(h.handle("c", { type: "add", n: 1 }, meta), WrongExpectedVersionError);
  t.equal(tries, MAX_COMMAND_ATTEMPTS);
});

t.test("hooks: a Left before the append aborts it; after runs only once it landed", async (t) => {
  const m = memoryStore();
  const h = commandHandler(m.store, counter, { streamName: (id) => `counter-${id}` });
  const seen: string[] = [];
  const r = await h.handle("d", { type: "add", n: 1 }, meta, {
    beforeAppend: async () => E.left({ _tag: "Unavailable" as const }),
    afterAppend: async () => void seen.push("after"),
  });
  t.match(r, E.left({ _tag: "Unavailable" }));
  t.same(seen, []);
  t.equal(m.streams.get("counter-d"), undefined, "nothing appended");
  await h.handle("d", { type: "add", n: 1 }, meta, { afterAppend: async (b, e, a) => void seen.push(`after ${b}->${a} (${e.length})`) });
  t.same(seen, ["after 0->1 (1)"]);
});

t.test("the spec helper: given / when / then", async (t) => {
  const given = deciderSpec(counter);
  t.equal(given([{ type: "added", data: { n: 2 } }]).state(), 2);
  t.match(given([{ type: "added", data: { n: 9 } }]).when({ type: "add", n: 2 }), E.left({ _tag: "TooMuch" }));
  t.equal(given([]).then({ type: "add", n: 4 }), 4);
});
