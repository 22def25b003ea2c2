/**
 * The benchmark's TypeScript worker, a real process on the SDK: `bench.echo` answers `{ n }`.
 * Env: PLUGIN, CREDS (file), SERVERS, INSTANCE, CONCURRENCY. Prints `ready` once pulling.
 */
import { pino } from "pino";
import { Worker } from "../src/sdk/worker.js";

const env = process.env;
const worker = new Worker({
  plugin: env.PLUGIN!,
  creds: env.CREDS!,
  servers: env.SERVERS!,
  instance: env.INSTANCE!,
  concurrency: Number(env.CONCURRENCY ?? "64"),
  logger: pino({ level: "warn" }, pino.destination({ fd: 2, sync: true })),
});
worker.onTask("bench.echo", async (p: { n: number }) => ({ n: p.n }));
await worker.run();
process.stdout.write("ready\n");
const stop = () => void worker.stop({ graceMs: 1000 }).then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
