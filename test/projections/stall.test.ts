import t from "tap";
import pino from "pino";
import { stallWatch } from "../../src/projections/runner/stall.js";
import type { EventStore } from "../../src/store/types.js";
import type { AnyEvent } from "../../src/projections/runner/source.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A log whose head is `head.n`; only `headPosition` is asked by the watch. */
const fakeStore = (head: { n: number }) => ({ headPosition: async () => BigInt(head.n) }) as unknown as EventStore<AnyEvent>;

const watch = (head: { n: number }, delivered: () => number | undefined) => {
  let restarts = 0;
  const w = stallWatch({ store: fakeStore(head), log: pino({ level: "silent" }), stallMs: 300, delivered, restart: () => void restarts++ });
  return { restarts: () => restarts, stop: w.stop };
};

t.test("behind the log with nothing delivered: the subscription is made again", async (t) => {
  const w = watch({ n: 10 }, () => 5);
  t.teardown(w.stop);
  for (let i = 0; i < 100 && w.restarts() === 0; i++) await sleep(50);
  t.ok(w.restarts() >= 1, "restarted");
});

t.test("at the head, or still delivering, or busy folding: no restart", async (t) => {
  const head = { n: 10 };
  let pos = 0;
  const atHead = watch(head, () => 10);
  const moving = watch(head, () => pos++);
  const busy = watch(head, () => undefined);
  await sleep(1500);
  for (const w of [atHead, moving, busy]) w.stop();
  t.equal(atHead.restarts(), 0, "caught up");
  t.equal(moving.restarts(), 0, "events keep coming");
  t.equal(busy.restarts(), 0, "events wait to be folded");
});

t.test("an unreachable server is not a stall of the views", async (t) => {
  let restarts = 0;
  const store = { headPosition: async () => Promise.reject(new Error("no server")) } as unknown as EventStore<AnyEvent>;
  const w = stallWatch({ store, log: pino({ level: "silent" }), stallMs: 200, delivered: () => 1, restart: () => void restarts++ });
  await sleep(800);
  w.stop();
  t.equal(restarts, 0);
});
