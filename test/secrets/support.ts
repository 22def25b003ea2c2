/**
 * Shared parts of the secret and live-config tests: sealing a value for `secret.set` as the CLI
 * does, and writing a change the way the core writes it minus its notice (what a core crash
 * between append and publish, or a disconnected worker, leaves behind).
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { pino } from "pino";
import { createCurve } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import { natsEventStore } from "../../src/store/eventStore.js";
import { ConfigEvent, configStreamName } from "../../src/events/config.js";
import { PluginEvent } from "../../src/events/plugin.js";
import { pluginApp } from "../../src/plugins/app.js";
import { defaultCatalog } from "../../src/contract/catalog.js";
import { loadOrCreateSecretKey } from "../../src/secrets/keys.js";
import { secretStore } from "../../src/secrets/store.js";

/** `{sealed, sender}` for `secret.set` / `secret.rotate`: `value` sealed to the core's `publicKey` by a one-off curve key. */
export const sealTo = (publicKey: string, value: string) => {
  const kp = createCurve();
  return { sealed: Buffer.from(kp.seal(new TextEncoder().encode(value), publicKey)).toString("base64"), sender: kp.getPublicKey() };
};

/** Writes changes as the core does (the event; for a secret also the bucket) and sends no notice. */
export const withoutNotice = async (nc: NatsConnection, dataDir: string) => {
  const store = await secretStore({
    nc,
    key: await loadOrCreateSecretKey(dataDir),
    plugins: pluginApp({ store: natsEventStore(nc, { codec: PluginEvent }), catalog: defaultCatalog() }),
    log: pino({ level: "silent" }),
  });
  return {
    rotate: (name: string, value: string) => store.put(name, new TextEncoder().encode(value), true, { actor: "operator:test", time: new Date() }),
    setConfig: (pluginId: string, version: number, config: Record<string, unknown>) =>
      natsEventStore(nc, { codec: ConfigEvent }).appendToStream(configStreamName(pluginId), {
        type: "plugin.config.set",
        data: { pluginId, version, config, changed: Object.keys(config).sort() },
        metadata: { actor: "operator:test", time: new Date().toISOString() },
      }),
  };
};

/** The stdout lines of a worker process, and a wait for one that matches (60 s bound, with what came so far). */
export const stdoutLines = (proc: ChildProcess, stderr: () => string = () => "") => {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters) w();
  });
  const waitFor = (re: RegExp, what: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} in 60 s; got:\n${lines.join("\n")}\nstderr:\n${stderr()}`)), 60_000);
      const check = () => {
        const hit = lines.find((l) => re.test(l));
        if (hit) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        }
      };
      waiters.add(check);
      check();
    });
  return { lines, waitFor };
};
