import { decode } from "@nats-io/jwt";
import { join } from "node:path";
import { credsDir, mintBusUser, writeSecret } from "../auth/authority.js";
import type { Authority, MintedUser } from "../auth/authority.js";
import { devBootstrapPermissions, pluginPermissions } from "../auth/permissions.js";
import type { Catalog } from "./catalog.js";

/** Credentials of one plugin: the `.creds` text is handed to the caller, never stored or logged. */
export type PluginCredentials = MintedUser & { readonly expiresAt: string | null };

/**
 * Mints a user JWT for a plugin, signed by the BUS signing key, with exactly the permissions of
 * its grants (`pluginPermissions`). `ttlMs` sets an expiry; without it the JWT does not expire
 * (revocation still applies). Minting needs no server round trip.
 */
export const mintPluginCredentials = async (
  authority: Authority,
  catalog: Catalog,
  pluginId: string,
  granted: readonly string[],
  opts: { ttlMs?: number } = {},
): Promise<PluginCredentials> => {
  const expiresInSec = opts.ttlMs !== undefined ? Math.max(1, Math.ceil(opts.ttlMs / 1000)) : undefined;
  const user = await mintBusUser(authority, `plugin:${pluginId}`, pluginPermissions(catalog, pluginId, granted), {
    ...(expiresInSec ? { expiresInSec } : {}),
    tags: [`plugin:${pluginId}`],
  });
  const exp = decode(user.jwt).exp;
  return { ...user, expiresAt: exp ? new Date(exp * 1000).toISOString() : null };
};

/**
 * The dev bootstrap credentials `ganglion up --dev` prints: they may only call
 * `ganglion.v1.plugin.register` (connect with `inboxPrefix: DEV_BOOTSTRAP_INBOX`).
 */
export const mintDevBootstrapCredentials = (authority: Authority, opts: { ttlMs?: number } = {}): Promise<MintedUser> =>
  mintBusUser(authority, "dev-bootstrap", devBootstrapPermissions(), {
    ...(opts.ttlMs ? { expiresInSec: Math.ceil(opts.ttlMs / 1000) } : {}),
    tags: ["dev-bootstrap"],
  });

/** Where `ganglion up --dev` keeps the dev bootstrap credentials: `<dataDir>/creds/dev-bootstrap.creds`. */
export const devBootstrapCredsPath = (dataDir: string) => join(credsDir(dataDir), "dev-bootstrap.creds");

/**
 * Mints fresh dev bootstrap credentials into `<dataDir>/creds/dev-bootstrap.creds` (mode 0600)
 * and answers the path, for `ganglion up --dev` to print.
 */
export const writeDevBootstrapCredentials = async (authority: Authority): Promise<string> => {
  const path = devBootstrapCredsPath(authority.dataDir);
  await writeSecret(path, (await mintDevBootstrapCredentials(authority)).creds);
  return path;
};
