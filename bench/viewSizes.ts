/**
 * The size of the view buckets per 1,000 finished tasks, and the core's memory per open task
 * (issue 14, "Also measure"; issue 12, "Views that grow without bound"). Not part of `npm run
 * bench`: run it by hand, once per code base to compare:
 *
 *   npx tsx bench/viewSizes.ts [--root DIR] [--finished N] [--open K] [-- core args...]
 *
 * `--root` is the checkout whose core runs (`DIR/src/cli/main.ts serve`; default this one), so
 * the same measurement runs against another branch's code. It starts a fresh nats-server, the
 * core as a process, one worker process; submits K tasks of a type no worker serves (they stay
 * open) and reads the core's RSS before and after; then N tasks the worker completes, and reads
 * every view bucket (operator-facing and internal) before and after: bytes and messages (keys,
 * delete markers included) per 1,000 finished tasks. Prints one JSON object.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { writeFile } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { callService } from "../src/service/client.js";
import { readCheckpoint } from "../src/projections/runner/kv.js";
import { Streams } from "../src/contract/subjects.js";
import { progress, round, rssMiB, sleep, startBenchServer, windowed } from "./lib.js";
import { BENCH_PLUGIN, benchManifest, spawnReady } from "./tasks.js";

const HERE = new URL(".", import.meta.url).pathname;
const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash < 0 ? argv : argv.slice(0, dash);
const coreArgs = dash < 0 ? [] : argv.slice(dash + 1);
const opt = (name: string, def: string) => {
  const i = own.indexOf(name);
  return i >= 0 && own[i + 1] ? own[i + 1]! : def;
};
const root = opt("--root", join(HERE, ".."));
const FINISHED = Number(opt("--finished", "3000"));
const OPEN = Number(opt("--open", "2000"));
const VIEWS = ["tasks", "workers", "totals", "plugins", "capabilities"];

const server = await startBenchServer();
const core = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    join(root, "src/cli/main.ts"),
    "serve",
    "--nats",
    server.url,
    "--creds",
    server.installation.adminCreds,
    "--data-dir",
    server.dataDir,
    "--log-level",
    "warn",
    ...coreArgs,
  ],
  { cwd: root, env: process.env, stdio: ["ignore", "pipe", "inherit"] },
);
const stopAll: (() => Promise<void>)[] = [];
try {
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: core.stdout! }).on("line", (l) => l.startsWith("ganglion ready") && resolve());
    core.on("exit", (c) => reject(new Error(`the core exited (${c})`)));
  });
  const nc = await server.connectAdmin("view-sizes");
  stopAll.push(() => nc.close());

  // The bench plugin, plus a type no worker serves: its tasks stay open.
  const manifest = benchManifest();
  manifest.provides.push({ ...manifest.provides[0]!, type: "bench.idle", description: "served by no one" });
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    const r = await callService(nc, "plugin.install", { manifest, grant: "all" }, { timeoutMs: 30_000 });
    ok = E.isRight(r);
    if (!ok) await sleep(250);
  }
  const c = await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: BENCH_PLUGIN }, { timeoutMs: 30_000 });
  if (E.isLeft(c)) throw new Error(c.left.message);
  const creds = join(server.dataDir, "bench.creds");
  await writeFile(creds, c.right.creds, { mode: 0o600 });

  const submit = async (taskType: string, n: number) => {
    for (;;) {
      const r = await callService(nc, "task.submit", { taskType, params: { n, pad: "p".repeat(64) } }, { timeoutMs: 60_000 });
      if (E.isRight(r)) return;
      if (r.left.code !== "Unavailable") throw new Error(r.left.message);
      await sleep(200);
    }
  };
  const head = async () => (await (await jetstreamManager(nc)).streams.info(Streams.Events)).state.last_seq;
  const settle = async () => {
    const h = await head();
    for (;;) {
      const cps = await Promise.all(VIEWS.map((b) => readCheckpoint(nc, b).then((x) => x ?? 0)));
      if (Math.min(...cps) >= h) break;
      await sleep(500);
    }
    await sleep(2000);
  };
  const buckets = async () => {
    const jsm = await jetstreamManager(nc);
    const out: Record<string, { bytes: number; messages: number }> = {};
    for await (const si of jsm.streams.list()) {
      const name = si.config.name.replace(/^KV_/, "");
      if (si.config.name.startsWith("KV_") && (VIEWS.includes(name) || name.startsWith("ganglion-internal-")))
        out[name] = { bytes: si.state.bytes, messages: si.state.messages };
    }
    return out;
  };

  await settle();
  const rss0 = await rssMiB(core.pid);
  progress(`${OPEN} open tasks`);
  await windowed(OPEN, 32, (i) => submit("bench.idle", i));
  await settle();
  const rss1 = await rssMiB(core.pid);
  const before = await buckets();

  const worker = await spawnReady("worker.ts", { PLUGIN: BENCH_PLUGIN, CREDS: creds, SERVERS: server.url, INSTANCE: "sizes-1", CONCURRENCY: "64" });
  stopAll.push(worker.stop);
  progress(`${FINISHED} tasks to finish`);
  await windowed(FINISHED, 32, (i) => submit("bench.echo", i));
  for (;;) {
    const t = await callService<{ tasks: { byStatus: Record<string, number> } }>(nc, "views.totals", {}, { timeoutMs: 30_000 });
    if (E.isRight(t) && (t.right.tasks.byStatus["completed"] ?? 0) >= FINISHED) break;
    await sleep(1000);
  }
  await settle();
  const rss2 = await rssMiB(core.pid);
  const after = await buckets();

  const per1000 = Object.fromEntries(
    Object.keys({ ...before, ...after })
      .sort()
      .map((b) => {
        const a = after[b] ?? { bytes: 0, messages: 0 };
        const z = before[b] ?? { bytes: 0, messages: 0 };
        return [
          b,
          {
            bytesPer1000Finished: round(((a.bytes - z.bytes) / FINISHED) * 1000, 0),
            messagesPer1000Finished: round(((a.messages - z.messages) / FINISHED) * 1000, 0),
            bytesAtEnd: a.bytes,
            messagesAtEnd: a.messages,
            bytesWithOpenOnly: z.bytes,
            messagesWithOpenOnly: z.messages,
          },
        ];
      }),
  );
  console.log(
    JSON.stringify(
      {
        root,
        coreArgs,
        open: OPEN,
        finished: FINISHED,
        coreRssMiB: { start: rss0, withOpen: rss1, afterFinished: rss2 },
        coreKiBPerOpenTask: rss0 !== undefined && rss1 !== undefined ? round(((rss1 - rss0) * 1024) / OPEN, 2) : null,
        buckets: per1000,
      },
      null,
      2,
    ),
  );
} finally {
  for (const f of stopAll.reverse()) await f().catch(() => undefined);
  core.kill("SIGTERM");
  await new Promise((r) => (core.exitCode !== null ? r(null) : core.on("exit", r)));
  await server.stop();
}
