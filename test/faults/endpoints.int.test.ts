import t from "tap";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { Reply } from "../../src/service/endpoint.js";
import { TYPE_HEADER } from "../../src/store/eventStore.js";
import { SERVICE_NAME, serviceSubject, Streams } from "../../src/contract/subjects.js";
import { startTestServer } from "../support/natsServer.js";
import { installEcho, startCoreProcess } from "./support.js";

/**
 * Bad input at volume: random and malformed payloads at every endpoint the core's micro service
 * lists (`$SRV.INFO`, i.e. every `ganglion.v1.*` subject), through a core process. Each answer is
 * a structured reply; a refusal has a code and a message (and paths where a field was wrong);
 * the core stays up; nothing is appended to the log.
 */
const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "fault-endpoints" });
t.teardown(() => nc.close());
const core = await startCoreProcess({ url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds });
t.teardown(() => core.kill());
// A real plugin, so near-miss requests can name it and its task type.
await installEcho(nc, server.dataDir, "fuzzed");

const jsm = await jetstreamManager(nc);
const head = async () => (await jsm.streams.info(Streams.Events)).state.last_seq;

const info = (await nc.request(`$SRV.INFO.${SERVICE_NAME}`, "", { timeout: 5000 })).json<{ endpoints: { name: string; subject: string }[] }>();
const endpoints = info.endpoints.map((e) => ({ name: e.subject.slice(serviceSubject("").length), subject: e.subject }));

/** Requests shaped like the real ones, with wrong or random values in them. */
const nearMiss = fc.record(
  {
    // Never the installed plugin's own id: a well-formed command on it would rightly succeed.
    pluginId: fc.oneof(
      fc.constantFrom("not-there", "FUZZED", "fuzzed.*", ">", "", "a b", "-", "."),
      fc.string().filter((s) => s !== "fuzzed"),
      fc.anything(),
    ),
    taskId: fc.oneof(fc.string(), fc.constantFrom("../x", "*", ">", "", "-", "."), fc.anything()),
    taskType: fc.oneof(fc.constantFrom("fault.echo", "fault.*", "FAULT.ECHO", "fault..echo"), fc.string(), fc.anything()),
    // Never valid params of fault.echo (an object with an integer n).
    params: fc.oneof(
      fc.record({ n: fc.oneof(fc.string(), fc.constant(1.5), fc.constant(null), fc.boolean()) }),
      fc.string(),
      fc.array(fc.anything(), { maxLength: 3 }),
    ),
    capabilities: fc.oneof(fc.constant("all"), fc.array(fc.string(), { maxLength: 3 }), fc.anything()),
    manifest: fc.oneof(fc.record({ id: fc.string(), version: fc.string(), provides: fc.anything() }), fc.anything()),
    manifestText: fc.oneof(fc.string(), fc.constant("id: [unclosed"), fc.anything()),
    grant: fc.anything(),
    reason: fc.anything(),
    ttl: fc.oneof(fc.constantFrom("-1h", "forever", "0s"), fc.anything()),
    waitMs: fc.oneof(fc.double(), fc.string(), fc.constant(-1)),
    filter: fc.anything(),
  },
  { requiredKeys: [] },
);

/** A payload on the wire: JSON of anything, a near-miss request, text that is not JSON, random bytes. */
const payload = fc.oneof(
  fc.anything().map((v) => JSON.stringify(v) ?? ""),
  nearMiss.map((v) => JSON.stringify(v)),
  fc.string(),
  fc.uint8Array({ maxLength: 256 }),
);

// A near-miss is never a valid command (it never names the installed plugin, and params for its
// task type are always wrong), so nothing may be appended.
const before = await head();

t.ok(endpoints.length >= 20, `the service lists its endpoints (${endpoints.map((e) => e.name).join(", ")})`);

for (const ep of endpoints) {
  t.test(`${ep.name}: random and malformed payloads get a structured answer`, async (t) => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        const m = await nc.request(ep.subject, p, { timeout: 10_000 });
        let raw: unknown;
        try {
          raw = m.json();
        } catch {
          return false;
        }
        const r = Reply.decode(raw);
        if (E.isLeft(r)) return false;
        if (r.right.ok) return true;
        refused++;
        const err = r.right.error;
        return err.code.length > 0 && err.message.length > 0 && err.code !== "Internal" && (err.paths ?? []).every((x) => typeof x === "string");
      }),
      { numRuns: 60 },
    );
    t.ok(refused > 0, `${ep.name} refused bad requests`);
  });
}

t.test("after the barrage the core is up and nothing was appended", async (t) => {
  const ping = await nc.request(`$SRV.PING.${SERVICE_NAME}`, "", { timeout: 5000 });
  t.ok(ping.json<{ name: string }>().name === SERVICE_NAME, "the service answers PING");
  t.equal(core.proc.exitCode, null, "the core process is still running");
  const appended: string[] = [];
  for (let seq = before + 1; seq <= (await head()); seq++) {
    const m = await jsm.direct.getMessage(Streams.Events, { seq });
    if (m) appended.push(`${m.subject} ${m.header?.get(TYPE_HEADER) ?? "?"} ${m.string().slice(0, 300)}`);
  }
  t.same(appended, [], "the log holds exactly what it held before");
});
