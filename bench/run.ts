/**
 * `npm run bench [-- --quick] [--only append,tasks,...] [--events N]`
 *
 * Runs each benchmark against its own embedded nats-server (a temp data dir, a free loopback
 * port: never the bus on 4222), measuring the raw NATS path and Ganglion's path in the same run.
 * Prints the figures, writes them to `bench/results/<time>.json` (and `latest.json`), and
 * rewrites the table in `bench/README.md`. Targets are reported, never asserted.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { benchAppend } from "./append.js";
import { benchBullmq } from "./bullmq.js";
import type { BullResult } from "./bullmq.js";
import { machine, progress, startBenchServer, startChildCore } from "./lib.js";
import type { ChildCore } from "./lib.js";
import { benchProjections } from "./projections.js";
import { benchRevocation } from "./revocation.js";
import { benchScale } from "./scale.js";
import { benchTasks } from "./tasks.js";

export const BENCHES = ["append", "tasks", "projections", "revocation", "bullmq", "scale"] as const;
type Bench = (typeof BENCHES)[number];

const usage = `usage: npm run bench -- [--quick] [--only ${BENCHES.join(",")}] [--events N] [--cores N] [--no-readme]
  --quick      small counts (a minute or two); figures are noisier
  --only L     run only these benchmarks (comma-separated)
  --events N   log size for the projection and scale benchmarks (default 1000000, quick 100000)
  --cores N    core processes (\`ganglion serve\`) on the one bus for the tasks benchmark (default 1)
  --no-readme  do not update bench/results/latest.json nor bench/README.md (the run's own file is still written)
  --render     only rewrite the table in bench/README.md from bench/results/latest.json`;

const parseArgs = (argv: string[]) => {
  let quick = false;
  let only: Bench[] = [...BENCHES];
  let events: number | undefined;
  let readme = true;
  let render = false;
  let cores = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--no-readme") readme = false;
    else if (a === "--render") render = true;
    else if (a === "--only") {
      const list = (argv[++i] ?? "").split(",").filter(Boolean);
      const bad = list.filter((b) => !(BENCHES as readonly string[]).includes(b));
      if (list.length === 0 || bad.length)
        throw new Error(`--only: unknown benchmark ${bad.join(", ") || "(none given)"}; the benchmarks are ${BENCHES.join(", ")}`);
      only = list as Bench[];
    } else if (a === "--events") {
      events = Number(argv[++i]);
      if (!Number.isInteger(events) || events < 1000) throw new Error("--events: a whole number of at least 1000");
    } else if (a === "--cores") {
      cores = Number(argv[++i]);
      if (!Number.isInteger(cores) || cores < 1 || cores > 16) throw new Error("--cores: a whole number from 1 to 16");
    } else if (a === "--help" || a === "-h") {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${usage}`);
  }
  return { quick, only, events: events ?? (quick ? 100_000 : 1_000_000), readme, render, cores };
};

const HERE = new URL(".", import.meta.url).pathname;

type Entry = { at: string; quick: boolean; result: unknown };
type Results = { machine: Awaited<ReturnType<typeof machine>>; benches: Partial<Record<Bench, Entry>> };

const main = async () => {
  const args = parseArgs(process.argv.slice(2));
  const dir = join(HERE, "results");
  if (args.render) {
    const table = renderTable(JSON.parse(await readFile(join(dir, "latest.json"), "utf8")) as Results);
    process.stdout.write(`${table}\n`);
    await writeReadme(table);
    return;
  }
  const m = await machine();
  process.stdout.write(
    `Ganglion benchmarks on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ${m.os}, Node ${m.node}, nats-server ${m.natsServer}${args.quick ? " (quick)" : ""}\n`,
  );
  const q = args.quick;
  const tasksOpts = { tasks: q ? 2000 : 20_000, window: 256, concurrency: 64, instanceCounts: [1, 4], latencyRate: 1000, latencySeconds: q ? 3 : 10 };
  const out: Partial<Record<Bench, Entry>> = {};
  const record = (b: Bench, result: unknown) => {
    out[b] = { at: new Date().toISOString(), quick: q, result };
    process.stdout.write(`\n[${b}] ${JSON.stringify(result, null, 2)}\n`);
  };

  const withServer = async <T>(f: (s: Awaited<ReturnType<typeof startBenchServer>>, cores: ChildCore[]) => Promise<T>, cores = 0): Promise<T> => {
    const s = await startBenchServer();
    // Several cores on one bus start one after the other (the first creates what they share).
    const cs = [];
    for (let i = 0; i < cores; i++) cs.push(await startChildCore(s));
    try {
      return await f(s, cs);
    } finally {
      await Promise.all(cs.map((c) => c.stop()));
      await s.stop();
    }
  };

  for (const b of args.only) {
    process.stdout.write(`\n== ${b}\n`);
    const t0 = Date.now();
    try {
      switch (b) {
        case "append":
          record(b, await withServer((s) => benchAppend(s, { events: q ? 20_000 : 200_000, inFlight: 1000 })));
          break;
        case "tasks":
          record(b, { cores: args.cores, ...(await withServer((s, cs) => benchTasks(s, tasksOpts, cs), args.cores)) });
          break;
        case "projections":
          record(b, await withServer((s) => benchProjections(s, { events: args.events })));
          break;
        case "revocation":
          record(b, await withServer((s) => benchRevocation(s, { samples: q ? 5 : 20 }), 1));
          break;
        case "bullmq": {
          const r: BullResult = await benchBullmq({ host: "127.0.0.1", port: 6379, ...tasksOpts });
          if ("skipped" in r) process.stdout.write(`[bullmq] skipped: ${r.skipped}\n`);
          record(b, r);
          break;
        }
        case "scale": {
          const s = await startBenchServer();
          const c = await startChildCore(s);
          try {
            record(b, await benchScale(s, c, { events: args.events, samples: q ? 50 : 200 }));
          } finally {
            await c.stop();
            await s.stop();
          }
          break;
        }
      }
    } catch (err) {
      process.stderr.write(`[${b}] failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
    progress(`${b} took ${Math.round((Date.now() - t0) / 1000)} s`);
  }

  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  await writeFile(join(dir, `${stamp}${q ? "-quick" : ""}.json`), `${JSON.stringify({ machine: m, args, benches: out }, null, 2)}\n`);
  // latest.json merges this run into the previous one, so a partial run (--only) keeps the rest.
  let prev: Results | undefined;
  try {
    prev = JSON.parse(await readFile(join(dir, "latest.json"), "utf8")) as Results;
  } catch {
    prev = undefined;
  }
  // A quick figure never replaces a full one.
  const kept = Object.fromEntries(Object.entries(out).filter(([b, e]) => !(e.quick && prev?.benches[b as Bench] && !prev.benches[b as Bench]!.quick)));
  const merged: Results = { machine: m, benches: { ...(prev?.benches ?? {}), ...kept } };
  const table = renderTable(args.readme ? merged : { machine: m, benches: out });
  process.stdout.write(`\n${table}\n`);
  if (args.readme) {
    await writeFile(join(dir, "latest.json"), `${JSON.stringify(merged, null, 2)}\n`);
    await writeReadme(table);
  }
};

// ---- the table ----------------------------------------------------------------------------------

const n = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v.toLocaleString("en-US") : "–");
const met = (ok: boolean | undefined) => (ok === undefined ? "–" : ok ? "yes" : "**no**");

/* eslint-disable @typescript-eslint/no-explicit-any */
export const renderTable = (r: Results): string => {
  const rows: string[][] = [];
  const b = r.benches as Record<string, { at: string; quick: boolean; result: any } | undefined>;
  const tag = (e: { quick: boolean; at: string }) => `${e.at.slice(0, 16).replace("T", " ")}${e.quick ? " quick" : ""}`;
  if (b.append) {
    const x = b.append.result;
    rows.push([
      "1. append, 1 event/call, " + n(x.streams) + " streams, " + n(x.inFlight) + " in flight",
      `${n(x.rawPerSec)} msg/s js.publish (${x.rawPipelinedPerSec ? `${n(x.rawPipelinedPerSec)} pipelined, ` : ""}${n(x.rawWithHeadersPerSec)} with the store's headers)`,
      `${n(x.ganglionPerSec)} ev/s`,
      `${x.ratio}×`,
      "≥ 0.7×",
      met(x.ratio >= 0.7),
      tag(b.append),
    ]);
  }
  if (b.tasks) {
    const x = b.tasks.result;
    for (const g of x.ganglion.throughput) {
      const raw = x.raw.throughput.find((t: any) => t.instances === g.instances);
      rows.push([
        `2. tasks end to end, ${g.instances} worker process(es) × ${x.concurrencyPerInstance}`,
        `${n(raw?.perSec)} msg/s`,
        `${n(g.perSec)} tasks/s`,
        raw ? `${Math.round((g.perSec / raw.perSec) * 100) / 100}×` : "–",
        g.instances === 4 ? "≥ 5,000/s" : g.instances === 1 ? "≥ 3,000/s" : "",
        g.instances === 4 ? met(g.perSec >= 5000) : g.instances === 1 ? met(g.perSec >= 3000) : "",
        tag(b.tasks),
      ]);
    }
    const gl = x.ganglion.latency;
    const rl = x.raw.latency;
    rows.push([
      `2. latency at ${n(gl.offeredPerSec)} tasks/s offered (p50 / p99)`,
      `${rl.p50Ms} / ${rl.p99Ms} ms`,
      `${gl.p50Ms} / ${gl.p99Ms} ms (${n(gl.completed)}/${n(gl.tasks)} done${gl.refused ? `, ${n(gl.refused)} refused` : ""})`,
      "",
      "p99 ≤ 25 ms",
      met(gl.p99Ms <= 25 && gl.completed === gl.tasks),
      tag(b.tasks),
    ]);
    const ops = x.ganglion.ops;
    if (ops)
      rows.push([
        "2. JetStream work per task (1 worker process)",
        "",
        `${ops.stored} messages stored (${Object.entries(ops.storedByStream)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}), ${ops.clientMsgs} client messages, ${ops.apiRequests} JS API requests (jsz; pulls and direct gets not counted)`,
        "",
        "",
        "",
        tag(b.tasks),
      ]);
    // The design's storage ceiling: what the server stores per task, at the rate the same run's
    // append benchmark published bare messages (pipelined, 1,000 in flight). An upper bound: it
    // leaves out deliveries, acks, requests and the core's own CPU.
    const pipelined = b.append?.result?.rawPipelinedPerSec;
    const one = x.ganglion.throughput.find((g: any) => g.instances === 1);
    if (ops && pipelined && ops.stored > 0)
      rows.push([
        "2. storage ceiling: pipelined js.publish rate ÷ messages stored per task",
        `${n(pipelined)} msg/s ÷ ${ops.stored}`,
        `${n(Math.round(pipelined / ops.stored))} tasks/s`,
        one ? `${Math.round((one.perSec / (pipelined / ops.stored)) * 100) / 100}× (1 worker process)` : "",
        "",
        "",
        tag(b.tasks),
      ]);
    const cpu = x.ganglion.cpuMsPerTask;
    if (cpu)
      rows.push([
        "2. CPU per task (1 worker process, ms)",
        "",
        Object.entries(cpu)
          .map(([k, v]) => `${k} ${v}`)
          .join(", "),
        "",
        "",
        "",
        tag(b.tasks),
      ]);
    const vb = x.ganglion.viewBytesPer1000;
    if (vb)
      rows.push([
        "2. view buckets' bytes per 1,000 finished tasks",
        "",
        `tasks ${n(vb.tasks)} B, workers ${n(vb.workers)} B, totals ${n(vb.totals)} B (keys: ${vb["tasks keys"]} / ${vb["workers keys"]} / ${vb["totals keys"]})`,
        "",
        "",
        "",
        tag(b.tasks),
      ]);
    const bc = x.ganglion.belowCapacity;
    if (bc)
      rows.push([
        `2. latency at ${n(bc.offeredPerSec)} tasks/s offered (p50 / p99)`,
        "",
        `${bc.p50Ms} / ${bc.p99Ms} ms (${n(bc.completed)}/${n(bc.tasks)} done${bc.refused ? `, ${n(bc.refused)} refused` : ""})`,
        "",
        "",
        "",
        tag(b.tasks),
      ]);
  }
  if (b.projections) {
    const x = b.projections.result;
    rows.push([
      `3. projection rebuild (tasks view) from ${n(x.events)} events`,
      `${n(x.rawPerSec)} ev/s`,
      `${n(x.ganglionPerSec)} ev/s (fold ${x.foldSec} s, write ${x.writeSec} s)`,
      `${x.ratio}×`,
      "≥ 0.6×",
      met(x.ratio >= 0.6),
      tag(b.projections),
    ]);
  }
  if (b.revocation) {
    const x = b.revocation.result;
    rows.push([
      `4. disable → connection closed (p50 / max, ${x.samples} samples)`,
      `${x.raw.p50Ms} / ${x.raw.maxMs} ms`,
      `${x.ganglion.p50Ms} / ${x.ganglion.maxMs} ms`,
      "",
      "≤ 100 ms",
      met(x.ganglion.maxMs <= 100),
      tag(b.revocation),
    ]);
    if (x.grantCut)
      rows.push([
        `4b. capability revoke → subject unreachable, connection kept (p50 / max)`,
        "",
        `${x.grantCut.p50Ms} / ${x.grantCut.maxMs} ms`,
        "",
        "≤ 100 ms",
        met(x.grantCut.maxMs <= 100),
        tag(b.revocation),
      ]);
  }
  if (b.bullmq) {
    const x = b.bullmq.result;
    if ("skipped" in x) rows.push(["5. BullMQ", "skipped", x.skipped, "", "", "–", tag(b.bullmq)]);
    else {
      for (const t of x.throughput) {
        const g = b.tasks?.result.ganglion.throughput.find((y: any) => y.instances === t.instances);
        const ratio = g ? Math.round((g.perSec / t.perSec) * 100) / 100 : undefined;
        rows.push([
          `5. BullMQ add → worker → completed, ${t.instances} process(es) × ${x.concurrencyPerInstance}`,
          `${n(t.perSec)} jobs/s (BullMQ)`,
          `${n(g?.perSec)} tasks/s`,
          ratio !== undefined ? `${ratio}×` : "–",
          "≥ 1.0×",
          met(ratio === undefined ? undefined : ratio >= 1),
          tag(b.bullmq),
        ]);
      }
      const l = x.latency;
      const gl = b.tasks?.result.ganglion.latency;
      rows.push([
        `5. BullMQ latency at ${n(l.offeredPerSec)} jobs/s (p50 / p99)`,
        `${l.p50Ms} / ${l.p99Ms} ms (BullMQ)`,
        gl ? `${gl.p50Ms} / ${gl.p99Ms} ms` : "–",
        "",
        "",
        "",
        tag(b.bullmq),
      ]);
    }
  }
  if (b.scale) {
    const x = b.scale.result;
    for (const c of ["submit", "cancel", "show"] as const) {
      const name = c === "show" ? "plugin.show" : `task.${c}`;
      rows.push([
        `6. ${name} p50 / p99: ${n(x.small.events)} vs ${n(x.large.events)} events in the log`,
        `${x.small[c].p50Ms} / ${x.small[c].p99Ms} ms`,
        `${x.large[c].p50Ms} / ${x.large[c].p99Ms} ms`,
        "",
        "flat",
        met(x.large[c].p50Ms <= Math.max(2 * x.small[c].p50Ms, x.small[c].p50Ms + 2)),
        tag(b.scale),
      ]);
    }
    rows.push([
      `6. RSS at ${n(x.large.events)} events`,
      `nats-server ${n(x.rssAtLarge.natsServerMiB)} MiB`,
      `core ${n(x.rssAtLarge.coreMiB)} MiB`,
      "",
      "",
      "",
      tag(b.scale),
    ]);
  }
  const m = r.machine;
  return [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, nats-server ${m.natsServer}.`,
    "",
    "| benchmark | raw / baseline | Ganglion | ratio | target | met | run (UTC) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
};

const START = "<!-- bench:table:start -->";
const END = "<!-- bench:table:end -->";

const writeReadme = async (table: string) => {
  const file = join(HERE, "README.md");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    text = `# Benchmarks\n\n${START}\n${END}\n`;
  }
  const a = text.indexOf(START);
  const z = text.indexOf(END);
  text = a >= 0 && z > a ? `${text.slice(0, a + START.length)}\n${table}\n${text.slice(z)}` : `${text}\n${START}\n${table}\n${END}\n`;
  await writeFile(file, text);
};

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 2;
});
