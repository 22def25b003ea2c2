import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { loadManifests } from "../manifest.js";
import type { ViewManifest } from "../manifest.js";
import type { AnyView } from "../view.js";
import { allViews } from "../views.js";
import { readCheckpoint } from "./kv.js";
import { rebuildProjections } from "./replay.js";
import { hasLegacyKeys, readSettings, settingsDiffer, viewBuckets, writeSettings } from "./settings.js";
import { resolveViews } from "./source.js";

/**
 * Before the live fold starts (`ganglion up`/`serve`): a view whose operator bucket still holds
 * internal keys (an older version kept them there), or whose settings (the tasks view's
 * retention) differ from those its bucket was folded with, is rebuilt from the log first, then
 * its settings are recorded. A fresh bucket only records them. Returns the views rebuilt.
 */
export const prepareViews = async (deps: {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly manifests?: readonly ViewManifest[];
  readonly views?: Readonly<Record<string, AnyView>>;
  readonly replicas?: number;
}): Promise<string[]> => {
  const rebuilt: string[] = [];
  for (const { manifest: m, view } of resolveViews(deps.manifests ?? (await loadManifests()), deps.views ?? allViews)) {
    const b = await viewBuckets(deps.nc, m, view, deps.replicas);
    const legacy = await hasLegacyKeys(b.rows);
    const differ = settingsDiffer(view, view.settings ? await readSettings(deps.nc, m.bucket) : undefined);
    const folded = (await readCheckpoint(deps.nc, m.bucket)) !== undefined;
    if (legacy || (differ && folded)) {
      deps.log.info({ view: m.name, bucket: m.bucket, legacyKeys: legacy, settings: view.settings?.value }, "rebuilding the view before the live fold");
      await rebuildProjections(deps.nc, { log: deps.log, manifests: [m], views: { [m.name]: view } });
      rebuilt.push(m.name);
    }
    if (differ) await writeSettings(b.internal, view);
  }
  return rebuilt;
};
