import t from "tap";
import * as io from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import { callService } from "../../src/service/client.js";
import { defineEndpoint } from "../../src/service/endpoint.js";
import { startService } from "../../src/service/service.js";
import { startTestServer } from "../support/natsServer.js";

/**
 * An answer larger than the bus carries (two 5 MiB results in `views.tasks` did it) must come back
 * as a structured refusal, not as silence that the CLI reads as "is the core running?".
 */
const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin();
t.teardown(() => nc.close());
const big = defineEndpoint(
  { name: "test.big", access: "command", description: "answers n MiB", request: io.type({ mib: io.number }), response: io.type({ blob: io.string }) },
  async (req) => E.right({ blob: "x".repeat(req.mib * 1024 * 1024) }),
);
const svc = await startService({ nc, log: pino({ level: "silent" }), table: { [big.name]: big.spec } }, [big]);
t.teardown(() => svc.stop());

t.test("a reply over max_payload is ReplyTooLarge, naming both sizes; a small one goes through", async (t) => {
  const r = await callService(nc, "test.big", { mib: 10 }, { timeoutMs: 10_000 });
  t.match(r, E.left({ code: "ReplyTooLarge", message: /the answer is \d+ bytes and the bus carries at most \d+/ }));
  t.match(await callService<{ blob: string }>(nc, "test.big", { mib: 1 }), E.right({ blob: /^x+$/ }));
});
