import * as E from "fp-ts/lib/Either.js";
import type { ServiceClient } from "../contract/client.js";

/**
 * The task types of the installed plugins with their params and result JSON Schemas: what the
 * "Try it" page builds its forms from. Read over BUS (`plugin.show`, an operator's read) and cut
 * down to the schemas, which are not secret: a viewer, who may submit, needs them as much.
 */
export type TaskTypeInfo = {
  readonly pluginId: string;
  readonly pluginStatus: string;
  readonly taskType: string;
  readonly description: string;
  readonly params: unknown;
  readonly result: unknown;
};

export const taskTypes = async (client: ServiceClient): Promise<TaskTypeInfo[]> => {
  const list = await client.call("plugin.list", {});
  if (E.isLeft(list)) throw new Error(list.left.message);
  const shown = await Promise.all(
    list.right.plugins.filter((p) => p.status !== "removed" && p.provides.length > 0).map((p) => client.call("plugin.show", { pluginId: p.pluginId })),
  );
  return shown.flatMap((r) =>
    E.isLeft(r)
      ? []
      : r.right.manifest.provides.map((spec) => ({
          pluginId: r.right.plugin.pluginId,
          pluginStatus: r.right.plugin.status,
          taskType: spec.type,
          description: spec.description,
          params: spec.params,
          result: spec.result,
        })),
  );
};
