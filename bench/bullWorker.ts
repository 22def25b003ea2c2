/**
 * The BullMQ baseline's worker, a real process: answers `{ n }` for every job of QUEUE.
 * Env: QUEUE, REDIS_HOST, REDIS_PORT, CONCURRENCY. Prints `ready` once running.
 */
import { Worker } from "bullmq";

const env = process.env;
const worker = new Worker(env.QUEUE!, async (job) => ({ n: (job.data as { n: number }).n }), {
  connection: { host: env.REDIS_HOST ?? "127.0.0.1", port: Number(env.REDIS_PORT ?? "6379") },
  concurrency: Number(env.CONCURRENCY ?? "64"),
});
await worker.waitUntilReady();
process.stdout.write("ready\n");
process.on("SIGTERM", () => void worker.close().then(() => process.exit(0)));
