/**
 * Benchmark 4: revocation. Time from the `plugin.revoke` command (sent to the core's service) to
 * the plugin's live connection being closed by the server; against the raw path, the account JWT
 * with the user revoked pushed straight on `$SYS.REQ.CLAIMS.UPDATE`.
 */
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { mintBusUser } from "../src/auth/authority.js";
import { busRevoker } from "../src/auth/revocation.js";
import { callService } from "../src/service/client.js";
import { pluginInboxPrefix } from "../src/store/subjects.js";
import type { BenchServer } from "./lib.js";
import { percentile, progress, round } from "./lib.js";

export type RevocationResult = {
  samples: number;
  ganglion: { p50Ms: number; maxMs: number; commandReplyP50Ms: number };
  raw: { p50Ms: number; maxMs: number };
};

/** Resolves with the time the server closed the connection (no reconnect allowed). */
const closedAt = (nc: NatsConnection) => nc.closed().then(() => performance.now());

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

    const revoker = busRevoker({ authority: server.installation.authority, sysCreds: await readFile(server.installation.sysCreds, "utf8"), servers: server.url });
    const raw: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      const u = await mintBusUser(server.installation.authority, `raw${i}`, { pub: { allow: ["bench.raw"] }, sub: { allow: [`_INBOX.raw${i}.>`] } });
      const conn = await server.connectWith(u.creds, { inboxPrefix: `_INBOX.raw${i}`, reconnect: false });
      await conn.flush();
      const closed = closedAt(conn);
      const t0 = performance.now();
      await revoker.revoke([u.publicKey]);
      raw.push((await closed) - t0);
    }
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
