import type * as t from "io-ts";
import { RunView } from "../contract/pipeline.js";
import { PipelineRunEvent } from "../events/pipeline.js";
import { evolveRow } from "../pipelines/decider.js";
import { codecsByType, kvKey } from "./view.js";
import type { View } from "./view.js";

/**
 * The `pipelines` view: one row per run (key: the run id), the `RunView` that `pipeline.get`
 * answers, folded by the run decider's own `evolveRow` (one fold for the core and the view).
 * Definitions (`pipeline.defined`) are not rows: `ganglion pipeline list` reads them.
 */
export const pipelinesView: View<RunView, PipelineRunEvent> = {
  name: "pipelines",
  row: RunView as unknown as t.Type<RunView, unknown, unknown>,
  events: codecsByType(PipelineRunEvent.types as readonly t.Mixed[]),
  keys: (e) => [kvKey(e.data.runId)],
  evolve: (_key, row, e) => evolveRow(row, e),
};
