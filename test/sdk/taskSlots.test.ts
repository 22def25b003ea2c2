import t from "tap";
import { taskSlots } from "../../src/sdk/taskPull.js";

// The slots one worker instance shares between its task types' pull loops.

t.test("a loop that gives slots back cannot take them again before a loop that waits (no starvation)", async (t) => {
  const slots = taskSlots(2, () => 0);
  t.equal(await slots.acquire(1), 1, "idle type A");
  t.equal(await slots.acquire(1), 1, "idle type B");
  let busyGot: number | undefined;
  const busy = slots.acquire(1).then((n) => (busyGot = n));
  // A's pull expired empty: it gives its slot back and asks again at once.
  slots.release(1);
  slots.freed();
  const again = slots.acquire(1);
  await busy;
  t.equal(busyGot, 1, "the waiting loop was served first");
  let againGot: number | undefined;
  void again.then((n) => (againGot = n));
  await new Promise((r) => setImmediate(r));
  t.equal(againGot, undefined, "the loop that gave its slot back waits its turn");
  // The busy loop's pull came back empty too: its slot is free again.
  slots.release(1);
  slots.freed();
  await again;
  t.equal(againGot, 1);
});

t.test("never more than the limit reserved or running, and stopping wakes every waiter with nothing", async (t) => {
  let running = 1;
  const slots = taskSlots(2, () => running);
  t.equal(await slots.acquire(5), 1, "only what is free");
  const waiting = [slots.acquire(1), slots.acquire(1)];
  slots.freed();
  slots.wakeAll();
  t.same(await Promise.all(waiting), [0, 0]);
  running = 0;
  t.equal(slots.limit(), 2);
  const open = taskSlots(undefined, () => 0);
  t.equal(open.limit(), 4, "without an option or a consumer: 4");
  open.seen(7);
  t.equal(open.limit(), 7, "else the consumers' max_ack_pending");
});
