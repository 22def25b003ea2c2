import { join } from "node:path";
import { credsDir, writeSecret } from "../auth/authority.js";
import type { MintedUser } from "../auth/authority.js";
import type { AccountAuthority } from "../auth/accountAuthority.js";

/** Credentials of one plugin: the `.creds` text is handed to the caller, never stored or logged. */
export type PluginCredentials = MintedUser & { readonly expiresAt: string | null };

/**
 * Mints a user of the plugin's own account, signed by that account's key. The user needs no
 * permissions: what it can reach of the bus is exactly what its account imports, and the account
 * JWT (not the user JWT) changes with its grants, so grants reach live connections without new
 * credentials. `ttlMs` sets an expiry; `allowFrom` the source networks (CIDRs) the server accepts
 * connections from. Minting needs no server round trip.
 */
export const mintPluginCredentials = (
  accounts: AccountAuthority,
  pluginId: string,
  opts: { ttlMs?: number; allowFrom?: readonly string[] } = {},
): Promise<PluginCredentials> => accounts.mintPluginUser(pluginId, opts);

/** Where `ganglion up --dev` keeps the dev bootstrap credentials: `<dataDir>/creds/dev-bootstrap.creds`. */
export const devBootstrapCredsPath = (dataDir: string) => join(credsDir(dataDir), "dev-bootstrap.creds");

/**
 * Mints fresh dev bootstrap credentials (a user of the DEV account, which imports nothing but
 * `ganglion.v1.plugin.register`) into `<dataDir>/creds/dev-bootstrap.creds` (mode 0600) and
 * answers the path, for `ganglion up --dev` to print.
 */
export const writeDevBootstrapCredentials = async (accounts: AccountAuthority): Promise<string> => {
  const path = devBootstrapCredsPath(accounts.authority.dataDir);
  await writeSecret(path, (await accounts.mintDevUser()).creds);
  return path;
};
