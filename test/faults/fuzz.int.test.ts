import { readFile } from "node:fs/promises";
import t from "tap";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Reply } from "../../src/service/endpoint.js";
import { TYPE_HEADER } from "../../src/store/eventStore.js";
import { heartbeatSubject, JS_BUS_API, resultSubject, SERVICE_NAME, serviceSubject, Streams } from "../../src/contract/subjects.js";
import { callService } from "../../src/service/client.js";
import { startTestServer } from "../support/natsServer.js";
import { echoManifest, startCoreProcess } from "./support.js";

/**
 * Issue 12's fuzz pass: for a bounded time (GANGLION_FUZZ_MS, default 40 s; GANGLION_FUZZ_SEED to
 * replay a run) a real core process gets generated worker reports (`res.<plugin>.<taskId>`),
 * heartbeats (`hb.<plugin>.<instance>`), manifests with generated schemas (`plugin.install`),
 * submissions against those schemas, and junk at every endpoint, shaped after the wire codecs and
 * then made hostile: huge strings, deep nesting, `__proto__` keys, invalid UTF-8, empty bodies.
 * Throughout, a probe request must be answered within 2 s (retried up to five times before the
 * core counts as unresponsive; every slow answer is reported). Afterwards every event appended to
 * the log must be explained by an input the core accepted: task events only on tasks it accepted,
 * plugin events only on plugins it installed, worker events only for instances that sent a
 * heartbeat, online and offline alternating; nothing else.
 */
const BUDGET_MS = Number(process.env.GANGLION_FUZZ_MS ?? 40_000);
const SEED = Number(process.env.GANGLION_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PROBE_LIMIT_MS = 2000;
/** Tries of one probe before the core counts as unresponsive (every slow try is reported). */
const PROBE_TRIES = 5;
t.comment(`fuzz: seed ${SEED}, budget ${BUDGET_MS} ms (GANGLION_FUZZ_SEED / GANGLION_FUZZ_MS to change)`);

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "fuzz-admin" });
t.teardown(() => nc.close());
const core = await startCoreProcess({ url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds });
t.teardown(() => core.kill());
// The core's own account of its event loop (`src/host/loopMonitor.ts`): every stall it logged.
const stalls: { at: number; maxMs: number }[] = [];
let coreErr = "";
core.proc.stderr?.on("data", (d: Buffer) => {
  const lines = (coreErr + d.toString()).split("\n");
  coreErr = lines.pop() ?? "";
  for (const l of lines) {
    if (!l.includes("event loop stalled")) continue;
    try {
      const j = JSON.parse(l) as { time?: number; maxMs?: number };
      stalls.push({ at: j.time ?? Date.now(), maxMs: j.maxMs ?? 0 });
    } catch {
      // not a log line of the core's
    }
  }
});
const jsm = await jetstreamManager(nc);
const head = async () => (await jsm.streams.info(Streams.Events)).state.last_seq;

// The fuzzed plugin: the echo task type, and a health policy no run of failures reaches (its
// reports are fuzz, and a disable would end the run).
const PLUGIN = "fuzzed";
const manifest = { ...echoManifest(PLUGIN), health: { maxConsecutiveFailures: 1_000_000, failureRatio: 1, window: "1m" } };
let installed = await callService(nc, "plugin.install", { manifest, grant: "all" }, { timeoutMs: 30_000 });
for (let n = 0; n < 20 && E.isLeft(installed) && installed.left.code === "Unavailable"; n++) {
  await new Promise((r) => setTimeout(r, 250));
  installed = await callService(nc, "plugin.install", { manifest, grant: "all" }, { timeoutMs: 30_000 });
}
if (E.isLeft(installed)) throw new Error(`plugin.install: ${installed.left.message}`);
const minted = await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: PLUGIN }, { timeoutMs: 30_000 });
if (E.isLeft(minted)) throw new Error(`plugin.creds: ${minted.left.message}`);
const pnc = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(minted.right.creds)), name: "fuzz-plugin" });
t.teardown(() => pnc.close());
const pjs = jetstream(pnc, { apiPrefix: JS_BUS_API });

const info = (await nc.request(`$SRV.INFO.${SERVICE_NAME}`, "", { timeout: 5000 })).json<{ endpoints: { subject: string }[] }>();
const endpoints = info.endpoints.map((e) => e.subject);

// ---- what the core accepted: the only things that may explain an appended event ---------------
const tasks: string[] = [];
const taskSet = new Set<string>();
const plugins = new Set<string>();
const taskTypes: string[] = ["fault.echo"];
const instances = new Set<string>();
const counts = { reports: 0, heartbeats: 0, installs: 0, installed: 0, submits: 0, accepted: 0, junk: 0, refused: 0, clientRefused: 0 };
const badAnswers: string[] = [];
/** What was sent when, to name the inputs around a slow probe. */
const sent: { at: number; ms: number; what: string; bytes: number }[] = [];
const installRefusals: string[] = [];

// ---- generators --------------------------------------------------------------------------------
const enc = (s: string) => new TextEncoder().encode(s);
const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
const oddNames = fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "prototype");
const hugeString = fc.integer({ min: 1, max: 3 }).map((mib) => "x".repeat(mib * 1024 * 1024 - 100));
const deepText = fc.integer({ min: 65, max: 100_000 }).map((d) => "[".repeat(d) + "]".repeat(d));

/** Hostile variants of a JSON text (half of the time it goes as is): `__proto__` keys first, invalid UTF-8, a deep or huge field, an empty body, cut short. */
const hostile = (json: string) =>
  fc.tuple(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 65, max: 100_000 }), fc.integer({ min: 1, max: 3 }), fc.nat()).map(([k, depth, mib, cut]) => {
    const obj = json.startsWith("{") && json.length > 2;
    const into = (field: string) => (obj ? `{${field},${json.slice(1)}` : json);
    switch (k) {
      case 6:
        return enc(into(`"__proto__":{"polluted":true},"constructor":{"prototype":{"p":1}}`));
      case 7: {
        const head = enc(json.slice(0, 8));
        const tail = enc(json.slice(8));
        const out = new Uint8Array(head.length + 3 + tail.length);
        out.set(head);
        out.set([0xff, 0xfe, 0xc3], head.length);
        out.set(tail, head.length + 3);
        return out;
      }
      case 8: {
        const deep = "[".repeat(depth) + "]".repeat(depth);
        return enc(obj ? into(`"deep":${deep}`) : deep);
      }
      case 9: {
        const huge = "x".repeat(mib * 1024 * 1024 - 100);
        return enc(obj ? into(`"huge":"${huge}"`) : JSON.stringify(huge));
      }
      case 10:
        return new Uint8Array();
      case 11:
        return enc(json.slice(0, cut % Math.max(1, json.length)));
      default:
        return enc(json);
    }
  });

/** A report shaped after the wire's `Report`: mostly on accepted tasks, sometimes on made-up ones. */
const report = fc.record({
  task: fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((n) => ({ known: n })) },
    token.map((s) => ({ made: s })),
    oddNames.map((s) => ({ made: s })),
  ),
  attempt: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, fc.integer(), fc.double(), fc.string()),
  instance: fc.oneof(token, oddNames, fc.string({ maxLength: 3000 })),
  status: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("started", "progress", "completed", "failed") }, fc.string()),
  delivery: fc.option(fc.oneof(fc.nat(), fc.anything())),
  result: fc.option(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ n: fc.integer() }) },
      fc.jsonValue(),
      hugeString.map((h) => ({ n: 1, h })),
    ),
  ),
  error: fc.option(fc.oneof(fc.record({ message: fc.string(), retryable: fc.boolean() }), fc.record({ message: hugeString }), fc.anything())),
  progress: fc.option(fc.oneof(fc.record({ done: fc.integer(), total: fc.integer(), message: fc.string() }), fc.anything())),
});

/** A heartbeat shaped after the wire's `Heartbeat`, under made-up and odd instance names. */
const heartbeat = fc.record({
  instance: fc.oneof(token, oddNames, fc.constantFrom("a".repeat(200), "é", "x".repeat(64))),
  version: fc.oneof(fc.constant("1.0.0"), fc.string(), fc.anything()),
  inFlight: fc.oneof(fc.nat(), fc.double(), fc.anything()),
  state: fc.option(fc.oneof(fc.constantFrom("running", "stopping"), fc.string())),
  bodyInstance: fc.boolean(),
});

/** JSON Schemas as manifests carry them: nested, with patterns (catastrophic ones too), formats, self-references, very wide. */
const schema: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ s: Record<string, unknown> }>((tie) => ({
  s: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant({ type: "integer" }),
    fc.record({ type: fc.constant("string"), pattern: fc.constantFrom("^[a-z]+$", "^(a+)+$", "^(a|aa)+$", "(x+x+)+y", "^\\d{1,3}$", "[") }),
    fc.record({ type: fc.constant("string"), format: fc.constantFrom("date-time", "email", "uri", "ipv4", "no-such-format") }),
    fc.constant({ $ref: "#" }),
    fc.constant({ type: "object", properties: { self: { $ref: "#" } } }),
    fc.record({
      type: fc.constant("object"),
      properties: fc.dictionary(fc.oneof(token, oddNames), tie("s"), { maxKeys: 4 }),
      required: fc.array(token, { maxLength: 2 }),
    }),
    fc.record({ type: fc.constant("array"), items: tie("s") }),
    fc.record({ anyOf: fc.array(tie("s"), { minLength: 1, maxLength: 3 }) }),
    // Many patterns, each slow for recheck to decide (200 of them froze the core for 60 s).
    fc.integer({ min: 20, max: 300 }).map((n) => ({
      type: "object",
      properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "string", pattern: `^[a-z]{1,${i + 1}}(x|y)+$` }])),
    })),
    fc
      .integer({ min: 1900, max: 2600 })
      .map((n) => ({ type: "object", properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "string" }])) })),
    fc.integer({ min: 20, max: 80 }).map((d) => {
      let s: Record<string, unknown> = { type: "string" };
      for (let i = 0; i < d; i++) s = { type: "object", properties: { x: s } };
      return s;
    }),
    fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
  ),
})).s;

/** Schemas install accepts: most manifests should install, so that submissions reach their validators. */
const safeSchema = fc.constantFrom<Record<string, unknown>>(
  { type: "integer", minimum: 0 },
  { type: "string", pattern: "^[a-z]+$" },
  { type: "string", format: "email" },
  { type: "string", format: "date-time" },
  { type: "object", properties: { p0: { type: "string", maxLength: 10 }, x: { type: "object", properties: { x: { type: "string", pattern: "^a+$" } } } } },
);

const manifestArb = fc.record({
  id: fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 1_000_000 }).map((n) => `fz-${n}`) }, oddNames, fc.string(), token),
  version: fc.oneof({ weight: 5, arbitrary: fc.constant("1.0.0") }, fc.string()),
  description: fc.oneof({ weight: 5, arbitrary: fc.string({ maxLength: 40 }) }, hugeString),
  provides: fc.array(
    fc.record({
      type: fc.oneof({ weight: 8, arbitrary: fc.nat({ max: 1_000_000 }).map((n) => `fz.t${n}`) }, fc.string()),
      description: fc.string(),
      params: fc.oneof(
        {
          weight: 3,
          arbitrary: fc
            .dictionary(token, fc.oneof({ weight: 3, arbitrary: safeSchema }, schema), { maxKeys: 3 })
            .map((properties) => ({ type: "object", properties })),
        },
        schema,
      ),
      result: fc.oneof({ weight: 3, arbitrary: fc.constant({ type: "object" }) }, schema),
      timeout: fc.oneof({ weight: 5, arbitrary: fc.constant("5s") }, fc.constantFrom("1m", "0s", "forever")),
    }),
    { minLength: 1, maxLength: 1 },
  ),
  capabilities: fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, fc.array(fc.string(), { maxLength: 2 })),
  grant: fc.boolean(),
});

/** Params for whatever type: values, and strings made to trip catastrophic patterns. */
const params = fc.oneof(
  fc.record({ n: fc.integer() }),
  fc.jsonValue(),
  fc.nat({ max: 40 }).map((n) => ({ p0: `${"a".repeat(n)}!`, x: { x: `${"a".repeat(n)}!` }, self: {} })),
  fc.constant({ email: "not an email", when: "yesterday" }),
);

// ---- the probe: the core must answer within 2 s, all along -------------------------------------
const probe = { sent: 0, slow: 0, unanswered: 0, maxMs: 0, latencies: [] as number[], failures: [] as { at: number; text: string }[] };
let fuzzing = true;
const probeLoop = (async () => {
  while (fuzzing) {
    probe.sent++;
    let answered = false;
    for (let attempt = 1; attempt <= PROBE_TRIES && !answered; attempt++) {
      const at = Date.now();
      try {
        const m = await nc.request(serviceSubject("views.plugin"), JSON.stringify({ pluginId: PLUGIN }), { timeout: PROBE_LIMIT_MS });
        const r = Reply.decode(m.json());
        if (E.isLeft(r)) throw new Error(`not a reply: ${m.string().slice(0, 200)}`);
        const ms = Date.now() - at;
        probe.latencies.push(ms);
        probe.maxMs = Math.max(probe.maxMs, ms);
        answered = true;
      } catch (err) {
        probe.slow++;
        // For comparison: a round trip to nats-server alone at the same moment (load on the machine or the server, not the core).
        const f = Date.now();
        await nc.flush().catch(() => undefined);
        probe.failures.push({ at, text: `${new Date(at).toISOString()} attempt ${attempt}: ${String(err)} (a server round trip then: ${Date.now() - f} ms)` });
      }
    }
    if (!answered) probe.unanswered++;
    await new Promise((r) => setTimeout(r, 250));
  }
})();

// ---- one input of each kind --------------------------------------------------------------------
const answerOf = async (subject: string, body: Uint8Array, what: string) => {
  const at = Date.now();
  try {
    const m = await nc.request(subject, body, { timeout: 15_000 }).finally(() => sent.push({ at, ms: Date.now() - at, what, bytes: body.length }));
    const r = Reply.decode(m.json());
    if (E.isLeft(r)) {
      badAnswers.push(`${what}: not a structured reply: ${m.string().slice(0, 200)}`);
      return undefined;
    }
    if (!r.right.ok) {
      counts.refused++;
      const e = r.right.error;
      if (e.code === "Internal" || !e.message) badAnswers.push(`${what}: ${e.code}: ${e.message.slice(0, 300)}`);
    }
    return r.right;
  } catch (err) {
    // A body over the server's max_payload never leaves the client.
    if (body.length > (nc.info?.max_payload ?? Infinity)) counts.clientRefused++;
    else badAnswers.push(`${what}: ${String(err)}`);
    return undefined;
  }
};

type ReportInput = typeof report extends fc.Arbitrary<infer A> ? A : never;
const sendReport = async (r: ReportInput, seed: number) => {
  const taskId = "known" in r.task ? (tasks.length > 0 ? tasks[r.task.known % tasks.length]! : "none") : r.task.made;
  const body: Record<string, unknown> = { taskId, attempt: r.attempt, instance: r.instance, status: r.status };
  if (r.delivery !== null) body.delivery = r.delivery;
  if (r.result !== null) body.result = r.result;
  if (r.error !== null) body.error = r.error;
  if (r.progress !== null) body.progress = r.progress;
  counts.reports++;
  const at = Date.now();
  try {
    const [bytes] = fc.sample(hostile(JSON.stringify(body)), { numRuns: 1, seed });
    await pjs
      .publish(resultSubject(PLUGIN, taskId), bytes!, { timeout: 10_000 })
      .finally(() => sent.push({ at, ms: Date.now() - at, what: `report ${r.status} on ${taskId.slice(0, 30)}`, bytes: bytes!.length }));
  } catch (err) {
    // Over max_payload the client refuses it; over RESULTS' max_msg_size (MAX_REPORT_BYTES) the server does (10054).
    if (/MAX_PAYLOAD|max_payload|payload|message size exceeds maximum/i.test(String(err))) counts.clientRefused++;
    else badAnswers.push(`report on ${taskId}: the RESULTS stream did not store it: ${String(err)}`);
  }
};

const rounds = { reports: 0, heartbeats: 0, installs: 0, submits: 0, junk: 0 };
let round = 0;
const started = Date.now();
const before = await head();

t.test(`fuzzing for ${BUDGET_MS} ms`, async (t) => {
  while (Date.now() - started < BUDGET_MS) {
    const seed = SEED + round++;
    const kind = round % 10;
    if (kind < 4) {
      rounds.reports++;
      for (const [i, r] of fc.sample(report, { numRuns: 5, seed }).entries()) await sendReport(r, seed * 8 + i);
    } else if (kind < 6) {
      rounds.heartbeats++;
      for (const h of fc.sample(heartbeat, { numRuns: 10, seed })) {
        const body = JSON.stringify({
          ...(h.bodyInstance ? { instance: h.instance } : { instance: "other" }),
          version: h.version,
          inFlight: h.inFlight,
          ...(h.state !== null ? { state: h.state } : {}),
        });
        counts.heartbeats++;
        instances.add(h.instance);
        const [bytes] = fc.sample(hostile(body), { numRuns: 1, seed: seed + h.instance.length });
        sent.push({ at: Date.now(), ms: 0, what: `heartbeat ${h.instance.slice(0, 30)}`, bytes: (bytes ?? enc(body)).length });
        try {
          pnc.publish(heartbeatSubject(PLUGIN, h.instance), bytes ?? enc(body));
        } catch {
          counts.clientRefused++;
        }
      }
      await pnc.flush();
    } else if (kind === 6) {
      rounds.installs++;
      for (const m of fc.sample(manifestArb, { numRuns: 1, seed })) {
        const { grant, ...mf } = m;
        counts.installs++;
        const [bytes] = fc.sample(hostile(JSON.stringify({ manifest: mf, ...(grant ? { grant: "all" } : {}) })), { numRuns: 1, seed });
        const r = await answerOf(serviceSubject("plugin.install"), bytes!, `plugin.install ${String(mf.id).slice(0, 40)}`);
        if (r && !r.ok && installRefusals.length < 5) installRefusals.push(`${r.error.code}: ${r.error.message.slice(0, 200)}`);
        if (r?.ok) {
          counts.installed++;
          plugins.add(String(mf.id));
          for (const p of mf.provides) taskTypes.push(String(p.type));
        }
      }
    } else if (kind < 9) {
      rounds.submits++;
      for (const [i, p] of fc.sample(params, { numRuns: 4, seed }).entries()) {
        counts.submits++;
        const taskType = taskTypes[(seed + i) % taskTypes.length]!;
        const good = taskType === "fault.echo" && i % 2 === 0;
        const body = JSON.stringify({ taskType, params: good ? { n: seed } : p });
        const r = await answerOf(serviceSubject("task.submit"), enc(body), `task.submit ${taskType}`);
        if (r?.ok) {
          const id = (r.result as { taskId?: unknown }).taskId;
          if (typeof id === "string") {
            counts.accepted++;
            tasks.push(id);
            taskSet.add(id);
          }
        }
      }
    } else {
      rounds.junk++;
      // Junk at a random endpoint: never a well-formed command on something that exists.
      const junk = fc.oneof(
        fc.record(
          {
            pluginId: fc.oneof(oddNames, fc.string()),
            taskId: fc.oneof(oddNames, fc.string()),
            reason: fc.oneof(fc.string(), hugeString),
            actor: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        fc.anything(),
      );
      for (const [i, v] of fc.sample(junk, { numRuns: 3, seed }).entries()) {
        const subject = endpoints[(seed + i) % endpoints.length]!;
        const [bytes] = fc.sample(hostile(JSON.stringify(v) ?? ""), { numRuns: 1, seed: seed + i });
        counts.junk++;
        await answerOf(subject, bytes!, `${subject.slice(serviceSubject("").length)} junk`);
      }
    }
  }
  fuzzing = false;
  await probeLoop;
  t.comment(`inputs: ${JSON.stringify(counts)}; rounds: ${JSON.stringify(rounds)}`);
  const sorted = [...probe.latencies].sort((a, b) => a - b);
  t.comment(
    `probe: ${probe.sent} requests, p50 ${sorted[Math.floor(sorted.length / 2)] ?? "-"} ms, p99 ${sorted[Math.floor(sorted.length * 0.99)] ?? "-"} ms, max ${probe.maxMs} ms, ` +
      `${probe.slow} over ${PROBE_LIMIT_MS} ms (retried), ${probe.unanswered} unanswered after ${PROBE_TRIES} tries`,
  );
  for (const f of probe.failures.slice(0, 10)) {
    t.comment(`slow probe: ${f.text}`);
    for (const x of sent.filter((x) => x.at <= f.at && x.at + x.ms >= f.at - 3000))
      t.comment(`  in flight then: ${x.what} (${x.bytes} bytes, answered in ${x.ms} ms)`);
  }
  for (const r of installRefusals) t.comment(`install refused: ${r}`);
  t.comment(`core event loop stalls over 500 ms: ${stalls.length}${stalls.length ? `, worst ${Math.max(...stalls.map((s) => s.maxMs))} ms` : ""}`);
  for (const s of stalls.slice(0, 10)) {
    t.comment(`  stall ${new Date(s.at).toISOString()}: ${s.maxMs} ms`);
    for (const x of sent.filter((x) => x.at <= s.at && x.at + x.ms >= s.at - 2000 - s.maxMs))
      t.comment(`    sent then: ${x.what} (${x.bytes} bytes, answered in ${x.ms} ms)`);
  }
  t.ok(counts.reports > 0 && counts.heartbeats > 0 && counts.installs > 0 && counts.submits > 0 && counts.junk > 0, "every kind of input was sent");
  t.ok(counts.accepted > 0, "some submissions were accepted (the run reached the task paths)");
  t.equal(probe.unanswered, 0, `the core answered a request within ${PROBE_LIMIT_MS} ms throughout (at most ${PROBE_TRIES} tries)`);
  t.same(badAnswers.slice(0, 20), [], "every request got a structured answer, never Internal, never a timeout");
  t.equal(core.proc.exitCode, null, `the core process is still running\n${core.stderr().slice(-2000)}`);
});

t.test("every event appended during the run is explained by an input the core accepted", async (t) => {
  // Let the core finish what it was given (reports in RESULTS, heartbeats) before reading the log.
  await new Promise((r) => setTimeout(r, 3000));
  const unexplained: string[] = [];
  const byType = new Map<string, number>();
  const perTask = new Map<string, string[]>();
  const perInstance = new Map<string, string[]>();
  const last = await head();
  for (let seq = before + 1; seq <= last; seq++) {
    const m = await jsm.direct.getMessage(Streams.Events, { seq });
    if (!m) continue;
    const [, category, ...rest] = m.subject.split(".");
    const id = rest.join(".");
    // One commit may hold several events: the store's type header names the first; the body has them all.
    const body = m.json<{ events?: { type: string; data?: Record<string, unknown> }[]; type?: string; data?: Record<string, unknown> }>();
    const events = body.events ?? [{ type: body.type ?? m.header?.get(TYPE_HEADER) ?? "?", ...(body.data ? { data: body.data } : {}) }];
    for (const e of events) {
      byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
      const at = `#${seq} ${m.subject} ${e.type}`;
      // What the core writes of its own (refusals, liveness, starts) is small whatever the input was.
      const size = JSON.stringify(e).length;
      if (/^(task\.(report_refused|started|failed|progress)|worker\.)/.test(e.type) && size > 16_384)
        unexplained.push(`${at}: ${size} bytes from a fuzz input`);
      if (category === "task") {
        if (!taskSet.has(id)) unexplained.push(`${at}: a task the core never accepted a submission for`);
        else perTask.set(id, [...(perTask.get(id) ?? []), e.type]);
      } else if (category === "plugin") {
        if (!plugins.has(id)) unexplained.push(`${at}: a plugin no accepted install created`);
      } else if (category === "worker") {
        const instance = String(e.data?.instance ?? "");
        if (id !== PLUGIN || !instances.has(instance)) unexplained.push(`${at}: instance ${instance.slice(0, 60)} sent no heartbeat`);
        else perInstance.set(instance, [...(perInstance.get(instance) ?? []), e.type]);
      } else unexplained.push(`${at}: nothing in the run explains it`);
    }
  }
  t.comment(`appended: ${last - before} commits; events by type: ${JSON.stringify(Object.fromEntries([...byType].sort()))}`);
  t.same(unexplained.slice(0, 20), [], "no unexplained event");
  const broken: string[] = [];
  for (const [id, types] of perTask) {
    if (types.filter((x) => x === "task.submitted").length !== 1) broken.push(`task ${id}: ${types.join(", ")}`);
    const ends = types.filter((x) => x === "task.completed" || x === "task.dead_lettered" || x === "task.cancelled");
    if (ends.length > 1) broken.push(`task ${id} ended twice: ${types.join(", ")}`);
  }
  for (const [instance, types] of perInstance) {
    if (types.some((x, i) => x !== (i % 2 === 0 ? "worker.online" : "worker.offline"))) broken.push(`instance ${instance}: ${types.join(", ")}`);
  }
  t.same(broken.slice(0, 20), [], "each accepted task was submitted once and ended at most once; instances went online and offline by turns");
  t.ok((byType.get("task.submitted") ?? 0) === counts.accepted, `one task.submitted per accepted submission (${counts.accepted})`);
});
