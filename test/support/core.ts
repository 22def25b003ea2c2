import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { accountAuthority } from "../../src/auth/accountAuthority.js";
import type { AccountAuthority } from "../../src/auth/accountAuthority.js";
import { PluginEvent } from "../../src/events/plugin.js";
import { pluginApp } from "../../src/plugins/app.js";
import type { PluginApp } from "../../src/plugins/app.js";
import { defaultCatalog } from "../../src/contract/catalog.js";
import type { Catalog } from "../../src/contract/catalog.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import type { EventStore } from "../../src/store/types.js";
import type { TestServer } from "./natsServer.js";

/** The plugin half of the core, wired as `startCore` wires it, for tests that start parts by hand. */
export type PluginParts = {
  readonly accounts: AccountAuthority;
  readonly store: EventStore<PluginEvent>;
  readonly catalog: Catalog;
  readonly app: PluginApp;
};

/** `teardown` gets the account authority's close (its SYS connection would keep the test alive). */
export const pluginParts = async (server: TestServer, nc: NatsConnection, teardown: (f: () => Promise<void>) => void): Promise<PluginParts> => {
  const accounts = accountAuthority({
    authority: server.installation.authority,
    sysCreds: await readFile(server.installation.sysCreds, "utf8"),
    servers: server.url,
  });
  teardown(accounts.close);
  await accounts.applyInfrastructure();
  const store = natsEventStore(nc, { codec: PluginEvent, defaultActor: "core" });
  const catalog = defaultCatalog();
  return { accounts, store, catalog, app: pluginApp({ store, catalog, accounts }) };
};
