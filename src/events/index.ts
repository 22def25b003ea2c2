import * as t from "io-ts";
import { PluginEvent } from "./plugin.js";
import { TaskEvent } from "./task.js";
import { WorkerEvent } from "./worker.js";

/** Every event Ganglion appends, one union of the families declared in this folder. */
export const GanglionEvent = t.union([PluginEvent, TaskEvent, WorkerEvent]);
export type GanglionEvent = t.TypeOf<typeof GanglionEvent>;

export { PluginEvent, TaskEvent, WorkerEvent };
export { EventMetadata, StoredEvent, Commit } from "./envelope.js";
