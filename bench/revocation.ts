/**
 * Benchmark 4: revocation under the account topology. Three figures, each a time from a command
 * to its effect on a live plugin connection:
 *
 * - **disable**: `plugin.disable` sent to the core → the server drops the plugin's connection
 *   (its first `disconnect`). The push carries the user in the plugin account's revocations and
 *   takes every import off the account.
 * - **grant cut**: `plugin.revoke` of a capability → the live connection no longer reaches it
 *   (a JetStream publish to the revoked topic, repeated every millisecond, first meets "no
 *   responders"). The connection stays up: it is an import removed from the account.
 * - **raw**: the plugin account JWT with the user revoked pushed on `$SYS.REQ.CLAIMS.UPDATE` over
 *   an already open SYS connection → the disconnect.
 */
import { readFile } from "node:fs/promises";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { encodePluginAccount } from "../src/auth/accounts.js";
import { mintAccountUser } from "../src/auth/accountAuthority.js";
import { pluginAccountKey } from "../src/auth/accounts.js";
import { callService } from "../src/service/client.js";
import { CLAIMS_UPDATE, topicSubject } from "../src/contract/subjects.js";
import type { BenchServer } from "./lib.js";
import { percentile, progress, round } from "./lib.js";

type Figure = { p50Ms: number; maxMs: number };
export type RevocationResult = {
  samples: number;
  ganglion: Figure & { commandReplyP50Ms: number };
  grantCut: Figure;
  raw: Figure;
};

/**
 * Resolves with the time the server dropped the connection (its first `disconnect` status). The
 * client's own `closed()` comes ~150 ms later: nats.js tries one reconnect even with
 * `maxReconnectAttempts: 0`, is refused, and only then closes.
 */
const closedAt = async (nc: NatsConnection): Promise<number> => {
  for await (const s of nc.status()) if (s.type === "disconnect") return performance.now();
  return performance.now();
};

const figure = (a: number[]): Figure => {
  const s = [...a].sort((x, y) => x - y);
  return { p50Ms: round(percentile(s, 50)), maxMs: round(s.at(-1)!) };
};

export const benchRevocation = async (server: BenchServer, o: { samples: number }): Promise<RevocationResult> => {
  const nc = await server.connectAdmin("bench-revocation");
  try {
    const install = async (id: string) => {
      const manifest = { id, version: "1.0.0", description: "revocation bench", provides: [], capabilities: ["topic.publish:bench.rev"] };
      const inst = await callService(nc, "plugin.install", { manifest, grant: "all" });
      if (E.isLeft(inst)) throw new Error(`plugin.install: ${inst.left.message}`);
      const c = await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: id });
      if (E.isLeft(c)) throw new Error(`plugin.creds: ${c.left.message}`);
      const plugin = await server.connectWith(c.right.creds, { name: id, reconnect: false });
      await plugin.flush();
      return plugin;
    };

    const g: number[] = [];
    const replies: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      const id = `benchrev${i}`;
      const plugin = await install(id);
      const closed = closedAt(plugin);
      const t0 = performance.now();
      const r = await callService(nc, "plugin.disable", { pluginId: id, reason: "bench" });
      replies.push(performance.now() - t0);
      if (E.isLeft(r)) throw new Error(`plugin.disable: ${r.left.message}`);
      g.push((await closed) - t0);
    }
    progress(`revocation: ${o.samples} samples through plugin.disable`);

    const cut: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      const id = `benchcut${i}`;
      const plugin = await install(id);
      const js = jetstream(plugin);
      await js.publish(topicSubject("bench.rev"), "granted");
      const t0 = performance.now();
      const revoked = callService(nc, "plugin.revoke", { pluginId: id, capabilities: ["topic.publish:bench.rev"] });
      let at: number | undefined;
      while (at === undefined && performance.now() - t0 < 5000) {
        try {
          await js.publish(topicSubject("bench.rev"), "probe", { timeout: 1000 });
          await new Promise((r) => setTimeout(r, 1));
        } catch {
          at = performance.now();
        }
      }
      const r = await revoked;
      if (E.isLeft(r)) throw new Error(`plugin.revoke: ${r.left.message}`);
      if (at === undefined) throw new Error("the revoked capability stayed reachable for 5 s");
      cut.push(at - t0);
      await plugin.close();
    }
    progress(`revocation: ${o.samples} samples of a capability cut through plugin.revoke`);

    // The raw path: an already open SYS connection pushes the plugin account JWT with the key revoked.
    const sys = await server.connectWith(await readFile(server.installation.sysCreds, "utf8"), { name: "bench-sys" });
    const a = server.installation.authority;
    const raw: number[] = [];
    const revs: Record<string, number> = {};
    const access = { active: true, granted: [] };
    await sys.request(CLAIMS_UPDATE, await encodePluginAccount(a, "benchraw", access, revs), { timeout: 5000 });
    for (let i = 0; i < o.samples; i++) {
      const u = await mintAccountUser(pluginAccountKey(a, "benchraw"), `raw${i}`, {});
      const conn = await server.connectWith(u.creds, { reconnect: false });
      await conn.flush();
      const closed = closedAt(conn);
      const t0 = performance.now();
      revs[u.publicKey] = Math.floor(Date.now() / 1000);
      await sys.request(CLAIMS_UPDATE, await encodePluginAccount(a, "benchraw", access, revs), { timeout: 5000 });
      raw.push((await closed) - t0);
    }
    await sys.close();
    progress(`revocation: ${o.samples} samples through a raw account JWT push`);
    return {
      samples: o.samples,
      ganglion: {
        ...figure(g),
        commandReplyP50Ms: round(
          percentile(
            [...replies].sort((x, y) => x - y),
            50,
          ),
        ),
      },
      grantCut: figure(cut),
      raw: figure(raw),
    };
  } finally {
    await nc.close();
  }
};
