/**
 * The raw baseline of the tasks benchmark, a real process: pulls from a durable JetStream
 * consumer with `consume()`, acks each message, and says so on core NATS (`<DONE>` with the
 * message's index). Env: SERVERS, CREDS (file), STREAM, CONSUMER, DONE, CONCURRENCY.
 */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";

const env = process.env;
const nc = await connect({
  servers: env.SERVERS!,
  authenticator: credsAuthenticator(readFileSync(env.CREDS!)),
  noAsyncTraces: true,
  name: "bench-raw-consumer",
});
const js = jetstream(nc);
const c = await js.consumers.get(env.STREAM!, env.CONSUMER!);
const msgs = await c.consume({ max_messages: Number(env.CONCURRENCY ?? "64") });
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  msgs.stop();
  void nc.close().then(() => process.exit(0));
});
for await (const m of msgs) {
  m.ack();
  nc.publish(env.DONE!, m.data);
}
