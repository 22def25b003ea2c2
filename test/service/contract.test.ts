import t from "tap";
import { pipelineEndpoints } from "../../src/service/endpoints/pipelines.js";
import type { Pipelines } from "../../src/pipelines/runtime.js";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as io from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import pino from "pino";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeReply, serviceClient } from "../../src/contract/client.js";
import { ENDPOINT_NAMES, endpointsWith, Endpoints } from "../../src/contract/endpoints.js";
import { ErrorCode, ErrorCodeCodec, ServiceError } from "../../src/contract/errors.js";
import { defaultCatalog } from "../../src/contract/catalog.js";
import { OPS_READ_ENDPOINTS } from "../../src/auth/ops.js";
import type { PluginApp, PluginAppError } from "../../src/plugins/app.js";
import type { TaskRejection } from "../../src/tasks/decider.js";
import type { route } from "../../src/tasks/providers.js";
import type { TaskRuntime } from "../../src/tasks/runtime.js";
import type { HeartbeatTracker } from "../../src/projections/heartbeats.js";
import { defineEndpoint } from "../../src/service/endpoint.js";
import { auditEndpoints } from "../../src/service/endpoints/audit.js";
import { pluginEndpoints } from "../../src/service/endpoints/plugins.js";
import { queryEndpoints } from "../../src/service/endpoints/queries.js";
import { taskEndpoints } from "../../src/service/endpoints/tasks.js";
import { secretEndpoints } from "../../src/service/endpoints/secrets.js";
import type { SecretStore } from "../../src/secrets/store.js";
import { startPluginConfig } from "../../src/pluginConfig/index.js";
import { runnerEndpoints } from "../../src/service/endpoints/runner.js";
import { appEndpoints } from "../../src/service/endpoints/apps.js";
import type { AppCommands } from "../../src/apps/commands.js";
import { artifactEndpoints } from "../../src/service/endpoints/artifacts.js";
import type { ArtifactOps } from "../../src/artifacts/index.js";
import { ErrorStatus, startService } from "../../src/service/service.js";

const log = pino({ level: "silent" });
// Nothing below does I/O: building the endpoint lists and refusing one happen before any request.
const nc = { options: {}, request: async () => Promise.reject(new Error("no I/O in this test")) } as unknown as NatsConnection;
const heartbeats: HeartbeatTracker = { live: () => ({}), stop: () => undefined };

// The config component subscribes on start: a stub connection that records nothing.
const configEndpoints = startPluginConfig({
  nc: { ...nc, subscribe: () => ({ unsubscribe: () => undefined }) } as unknown as NatsConnection,
  log,
  plugins: {} as PluginApp,
}).endpoints;

/** The endpoint lists exactly as src/host/core.ts hands them to startService. */
const coreEndpoints = () => [
  ...pluginEndpoints({ app: {} as PluginApp, catalog: defaultCatalog() }),
  ...taskEndpoints({ tasks: {} as TaskRuntime }),
  ...queryEndpoints({ nc, log, manifests: [], heartbeats }),
  ...auditEndpoints({ nc, log }),
  ...secretEndpoints({ store: {} as SecretStore, notify: async () => undefined }),
  ...configEndpoints,
  ...runnerEndpoints({}),
  ...appEndpoints({ apps: {} as AppCommands }),
  // Pipelines
  ...pipelineEndpoints({ pipelines: {} as Pipelines }),
  // Artifacts
  ...artifactEndpoints({ artifacts: {} as ArtifactOps }),
];

t.test("the core serves every endpoint of the table, and nothing else, with the table's entry", async (t) => {
  const eps = coreEndpoints();
  t.same(eps.map((e) => e.name).sort(), [...ENDPOINT_NAMES].sort());
  t.equal(ENDPOINT_NAMES.length, 42 + 7 /* pipeline.* */ + 4 /* artifact.* */ + 2 /* views.pipelines, views.pipeline */);
  for (const e of eps) {
    const spec = Endpoints[e.name as keyof typeof Endpoints];
    t.equal(e.spec, spec, `${e.name} is defined from its table entry`);
    t.equal(e.access, spec.access, `${e.name}: access comes from the table`);
  }
  t.same([...OPS_READ_ENDPOINTS], endpointsWith("read"), "OPS reaches exactly the read endpoints of the table");
  t.same(endpointsWith("register"), ["plugin.register"]);
});

t.test("startService refuses an endpoint that is not the table's", async (t) => {
  const stray = defineEndpoint({ name: "views.secret", access: "read", description: "", request: io.type({}), response: io.unknown }, async () => E.right(1));
  await t.rejects(startService({ nc, log }, [stray]), /views\.secret is not in the contract's endpoint table/);
  // Same name, other entry: an endpoint cannot claim a table name with codecs of its own.
  const fake = defineEndpoint({ ...Endpoints["views.totals"], response: io.unknown }, async () => E.right(1));
  await t.rejects(startService({ nc, log }, [fake]), /views\.totals is not in the contract's endpoint table/);
});

// ---- error codes ------------------------------------------------------------------------------

// Compile time: every rejection a handler turns into a code is one of ErrorCode.
type Is<T extends true> = T;
type RouteError = Extract<ReturnType<typeof route>, { ok: false }>["error"];
export type Checks = [
  Is<PluginAppError["_tag"] extends ErrorCode ? true : false>,
  Is<TaskRejection["_tag"] extends ErrorCode ? true : false>,
  Is<RouteError["_tag"] extends ErrorCode ? true : false>,
  Is<ServiceError["code"] extends ErrorCode ? true : false>,
];

t.test("ErrorCode is closed: its codec, the statuses and every code written in src/", async (t) => {
  const codes = Object.keys(ErrorCode);
  t.same(Object.values(ErrorCode), codes, "each code names itself");
  t.same(Object.keys(ErrorStatus).sort(), [...codes].sort(), "a micro status for each code");
  for (const c of codes) t.ok(E.isRight(ErrorCodeCodec.decode(c)), c);
  t.ok(E.isLeft(ErrorCodeCodec.decode("Conflict")), "an unknown code does not decode");

  // Run time, for what types cannot see: every `code: "X"` and rejection `_tag: "X"` written in src/.
  const root = new URL("../../src/", import.meta.url).pathname;
  // The CLI's own `--json` error codes (InvalidManifest, InvalidJson, ...: README, exit codes) are not the service's.
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith(".ts") && !f.startsWith("cli/"));
  const found = new Map<string, string>();
  for (const f of files) {
    const text = await readFile(join(root, f), "utf8");
    for (const m of text.matchAll(/\bcode: "([A-Za-z]+)"/g)) found.set(m[1]!, f);
    if (/(decider|providers|app)\.ts$/.test(f)) for (const m of text.matchAll(/_tag: "([A-Za-z]+)"/g)) found.set(m[1]!, f);
  }
  t.ok(found.size > 10, `found ${found.size} codes`);
  // `Refused` is only counted in $SRV.STATS (the request is never answered).
  for (const [c, f] of found) if (c !== "Refused") t.ok(codes.includes(c), `${c} (${f}) is an ErrorCode`);
});

// ---- the typed client -------------------------------------------------------------------------

t.test("decodeReply: a result that does not match the response codec is Internal, naming the path", async (t) => {
  const good = {
    taskId: "t1",
    pluginId: "p",
    taskType: "a.b",
    status: "running",
    attempt: 1,
    maxAttempts: 3,
    params: {},
    submittedAt: "2026-01-01T00:00:00Z",
    failures: [],
  };
  t.same(decodeReply("task.get", { ok: true, result: good }), E.right(good));
  const bad = decodeReply("task.get", { ok: true, result: { ...good, status: "lost", attempt: "1" } });
  t.match(bad, E.left({ code: "Internal", message: /task\.get does not match the contract/, paths: ["result.status", "result.attempt"] }));
  t.same(decodeReply("task.get", { ok: false, error: { code: "NotFound", message: "no task t1" } }), E.left({ code: "NotFound", message: "no task t1" }));
  t.match(decodeReply("task.get", { ok: false, error: { code: "Teapot", message: "?" } }), E.left({ code: "Internal", message: /malformed reply/ }));
  t.match(decodeReply("views.totals", "hello"), E.left({ code: "Internal" }));
});

t.test("serviceClient: the actor goes with every request; transport failures are Unavailable", async (t) => {
  const sent: { subject: string; body: unknown }[] = [];
  const fake = {
    request: async (subject: string, payload: string) => {
      sent.push({ subject, body: JSON.parse(payload) });
      return { json: () => ({ ok: true, result: { byCapability: {}, byPlugin: {} } }) };
    },
  };
  const r = await serviceClient(fake, { actor: "operator:ann" }).call("views.capabilities", {});
  t.same(r, E.right({ byCapability: {}, byPlugin: {} }));
  t.same(sent, [{ subject: "ganglion.v1.views.capabilities", body: { actor: "operator:ann" } }]);
  const none = { request: async () => Promise.reject(Object.assign(new Error("503"), { name: "NoRespondersError" })) };
  t.match(
    await serviceClient(none).call("views.totals", {}),
    E.left({ code: "Unavailable", message: /no Ganglion core answers on ganglion\.v1\.views\.totals/ }),
  );
});
