/**
 * The wordcount plugin's worker (manifest: ./manifest.yaml), built on the Ganglion SDK.
 *
 *   node --import tsx examples/ts-worker/worker.ts
 *
 * Env: GANGLION_CREDS or WORDCOUNT_CREDS (default ./wordcount.creds; the runner sets GANGLION_CREDS), NATS_URL (default nats://127.0.0.1:4222),
 * WORKER_INSTANCE (default host-pid-random).
 *
 * In a plugin project of your own, import from the package instead: `from "ganglion/sdk"`.
 *
 * SIGHUP: read the .creds file again and reconnect with it (re-minted credentials, no restart).
 *
 * Exit codes (README, "Tasks and workers"): 0 after SIGTERM/SIGINT; 77 when the server refuses the
 * credentials (revoked, the plugin disabled or removed, expired), at start or while running.
 */
import * as t from "io-ts";
import { CredentialsRefused, Worker } from "../../src/sdk/index.js";

const Text = t.type({ text: t.string });
const Count = t.type({ words: t.number });

// Unset: the local default; set but empty is a mistake, never a silent connection to 4222.
if (process.env.NATS_URL !== undefined && process.env.NATS_URL.trim() === "") throw new Error("NATS_URL is set but empty: unset it or give the bus URL");

const worker = new Worker({
  plugin: "wordcount",
  creds: process.env.GANGLION_CREDS ?? process.env.WORDCOUNT_CREDS ?? "./wordcount.creds",
  servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  version: "1.0.0",
  ...(process.env.WORKER_INSTANCE ? { instance: process.env.WORKER_INSTANCE } : {}),
});
worker.capability("topic.publish:text.counted");

worker.onTask(
  "text.wordcount",
  async ({ text }, ctx) => {
    ctx.progress(0, 1, "counting");
    const words = text.split(/\s+/).filter(Boolean).length;
    ctx.metrics.increment("words", words);
    ctx.log.info({ words }, "counted");
    // Tell whoever listens (granted topic.subscribe:text.counted); the task does not fail if nobody does.
    await worker.publish("text.counted", { taskId: ctx.task.id, words }).catch((err) => ctx.log.warn({ err: err.message }, "publish failed"));
    return { words };
  },
  { params: Text, result: Count },
);

worker.onTask("text.echo", async ({ text }) => ({ text }), { params: Text, result: Text });

try {
  await worker.run();
} catch (err) {
  // Refused credentials are not a crash: say what to do, without a stack trace.
  if (!(err instanceof CredentialsRefused)) throw err;
  process.stderr.write(`wordcount: ${err.message}\n`);
  process.exit(err.exitCode);
}
process.stdout.write(`wordcount worker ${worker.instance} running\n`);
process.on("SIGINT", () => void worker.stop());
process.on("SIGTERM", () => void worker.stop());
// Re-minted credentials (ganglion plugin creds wordcount -o FILE over the same file): used at once.
process.on("SIGHUP", () => void worker.reloadCredentials().catch((err: Error) => process.stderr.write(`wordcount: ${err.message}\n`)));
// Stopped (exit 0), or refused while running (exit 77; the SDK logged why).
const end = await worker.closed;
if (end.reason === "refused") process.stderr.write(`wordcount: ${end.message}\n`);
process.exit(end.exitCode);
