/**
 * Benchmark 4: revocation. Time from the `plugin.revoke` command (sent to the core's service) to
 * the plugin's live connection being closed by the server; against the raw path, the account JWT
 * with the user revoked pushed on `$SYS.REQ.CLAIMS.UPDATE` over an already open SYS connection.
 */
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { encodeBusAccount, mintBusUser } from "../src/auth/authority.js";
import { revocationsOf } from "../src/auth/revocation.js";
import { currentBusJwt } from "../src/embedded/installation.js";
import { callService } from "../src/service/client.js";
import { CLAIMS_UPDATE, pluginInboxPrefix } from "../src/store/subjects.js";
import type { BenchServer } from "./lib.js";
import { percentile, progress, round } from "./lib.js";

export type RevocationResult = {
  samples: number;
  ganglion: { p50Ms: number; maxMs: number; commandReplyP50Ms: number };
  raw: { p50Ms: number; maxMs: number };
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

export const benchRevocation = async (server: BenchServer, o: { samples: number }): Promise<RevocationResult> => {
  const nc = await server.connectAdmin("bench-revocation");
  try {
    const g: number[] = [];
    const replies: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      const id = `benchrev${i}`;
      const manifest = { id, version: "1.0.0", description: "revocation bench", provides: [], capabilities: ["topic.publish:bench.rev"] };
      const inst = await callService(nc, "plugin.install", { manifest, grant: "all" });
      if (E.isLeft(inst)) throw new Error(`plugin.install: ${inst.left.message}`);
      const c = await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: id });
      if (E.isLeft(c)) throw new Error(`plugin.creds: ${c.left.message}`);
      const plugin = await server.connectWith(c.right.creds, { inboxPrefix: pluginInboxPrefix(id), name: id, reconnect: false });
      await plugin.flush();
      const closed = closedAt(plugin);
      const t0 = performance.now();
      const r = await callService(nc, "plugin.revoke", { pluginId: id, capabilities: ["topic.publish:bench.rev"] });
      replies.push(performance.now() - t0);
      if (E.isLeft(r)) throw new Error(`plugin.revoke: ${r.left.message}`);
      g.push((await closed) - t0);
    }
    progress(`revocation: ${o.samples} samples through plugin.revoke`);

    // The raw path: an already open SYS connection pushes the account JWT with the key revoked.
    const sys = await server.connectWith(await readFile(server.installation.sysCreds, "utf8"), { name: "bench-sys" });
    const revs = revocationsOf(await currentBusJwt(server.installation.authority));
    const raw: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      const u = await mintBusUser(server.installation.authority, `raw${i}`, { pub: { allow: ["bench.raw"] }, sub: { allow: [`_INBOX.raw${i}.>`] } });
      const conn = await server.connectWith(u.creds, { inboxPrefix: `_INBOX.raw${i}`, reconnect: false });
      await conn.flush();
      const closed = closedAt(conn);
      const t0 = performance.now();
      revs[u.publicKey] = Math.floor(Date.now() / 1000);
      await sys.request(CLAIMS_UPDATE, await encodeBusAccount(server.installation.authority, revs), { timeout: 5000 });
      raw.push((await closed) - t0);
    }
    await sys.close();
    progress(`revocation: ${o.samples} samples through a raw account JWT push`);
    const s = (a: number[]) => [...a].sort((x, y) => x - y);
    return {
      samples: o.samples,
      ganglion: { p50Ms: round(percentile(s(g), 50)), maxMs: round(s(g).at(-1)!), commandReplyP50Ms: round(percentile(s(replies), 50)) },
      raw: { p50Ms: round(percentile(s(raw), 50)), maxMs: round(s(raw).at(-1)!) },
    };
  } finally {
    await nc.close();
  }
};
