import t from "tap";
import { Kvm } from "@nats-io/kv";
import { openBucket, readBucket } from "../../src/projections/runner/kv.js";
import { writeRows } from "../../src/projections/runner/bulk.js";
import { startEventLog } from "../support/eventLog.js";

const { nc } = await startEventLog(t);

const row = (n: number, lastPosition = n) => ({ n, lastPosition, lastIndex: 0 });

t.test("a rebuild's rows: written as compare-and-set publishes, a lost one goes to the slow path", async (t) => {
  const kv = await openBucket(nc, `bulk${Date.now()}`);
  // What the "whole-bucket read" saw: `b` at its first revision, `c` absent.
  const rb = await kv.create("b", JSON.stringify(row(0)));
  // Someone changes `b` and creates `c` after that read.
  await kv.update("b", JSON.stringify(row(1)), rb);
  await kv.create("c", JSON.stringify(row(2)));
  const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
  const todo = [
    ...keys.map((key, i) => ({ key, want: row(i), revision: 0, skip: false })),
    { key: "b", want: row(10), revision: rb, skip: false },
    { key: "c", want: row(20), revision: 0, skip: false },
    { key: "d", want: row(30), revision: 0, skip: true },
    { key: "e", want: undefined, revision: 0, skip: false },
  ];
  const slow: string[] = [];
  let written = 0;
  await writeRows(
    nc,
    kv,
    todo,
    async (key) => void slow.push(key),
    512,
    () => written++,
  );
  t.same(slow.sort(), ["b", "c", "d", "e"], "lost compare-and-sets, rows past the head and deletions take the slow path");
  t.equal(written, todo.length, "every row is reported once");
  const rows = await readBucket(kv);
  t.same(rows.get("k2999"), row(2999));
  t.equal([...rows.keys()].filter((k) => k.startsWith("k")).length, 3000);
  t.same(rows.get("b"), row(1), "the other writer's value stands");
  t.same(rows.get("c"), row(2));
});

t.test("an error that is not a lost compare-and-set fails the write", async (t) => {
  const kv = await new Kvm(nc).create(`bulkbad${Date.now()}`, { maxValueSize: 64 });
  await t.rejects(
    writeRows(
      nc,
      kv,
      [{ key: "big", want: { pad: "x".repeat(500), lastPosition: 1, lastIndex: 0 }, revision: 0, skip: false }],
      async () => void t.fail("not a conflict"),
      8,
      () => undefined,
    ),
    { name: "JetStreamApiError" },
  );
});
