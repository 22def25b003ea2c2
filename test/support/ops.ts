import { readFile } from "node:fs/promises";
import type { Test } from "tap";
import type { NatsConnection } from "@nats-io/transport-node";
import pino from "pino";
import { accountAuthority } from "../../src/auth/accountAuthority.js";
import { opsAccountKey } from "../../src/auth/accounts.js";
import { issueOpsCredentials } from "../../src/auth/ops.js";
import { startOps } from "../../src/auth/opsStreams.js";
import type { ViewManifest } from "../../src/projections/manifest.js";
import type { TestServer } from "./natsServer.js";

/**
 * The OPS component of the core on a test server without the rest of the core (tests that set up
 * only the log, the projections and the service): the OPS account, its mirrors, and read-only
 * credentials minted exactly as `ganglion nats-context` mints them. Call it once the projections
 * have created their buckets. Torn down with `t`.
 */
export const startTestOps = async (t: Test, server: TestServer, nc: NatsConnection, manifests?: readonly ViewManifest[]) => {
  const sysCreds = await readFile(server.installation.sysCreds, "utf8");
  const authority = server.installation.authority;
  const accounts = accountAuthority({ authority, sysCreds, servers: server.url });
  t.teardown(() => accounts.close());
  const ops = await startOps({ nc, log: pino({ level: process.env["TEST_OPS_LOG"] ?? "silent" }), accounts, sysCreds, ...(manifests ? { manifests } : {}) });
  t.teardown(() => ops.stop());
  return {
    ops,
    /** Waits until the OPS copies hold what BUS holds now. */
    caughtUp: () => ops.caughtUp(),
    /** The OPS account key: give it to `startService({ accounts: { ops } })`. */
    opsAccount: opsAccountKey(authority).getPublicKey(),
    issue: (name = "test", ttlMs?: number) => issueOpsCredentials({ accounts, sysCreds, servers: server.url, name, ...(ttlMs !== undefined ? { ttlMs } : {}) }),
  };
};

/** Waits until `f` holds (polling), or fails with `what`. */
export const eventually = async (what: string, f: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (
      await f().catch((err) => {
        last = err;
        return false;
      })
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
