export { audit, AuditFilter, AuditFilterError, parseTimeBound, toAuditEntry } from "./audit.js";
export { applyEvent, canonical, diffRows, foldAll } from "./fold.js";
export { loadManifests, ManifestError, ViewManifest } from "./manifest.js";
export { Checkpoint, liveBucket, readBucket, readCheckpoint, readPointer, ViewPointer } from "./runner/kv.js";
export { startProjections } from "./runner/live.js";
export { foldLog, rebuildProjections, verifyProjections } from "./runner/replay.js";
export { allViews } from "./views.js";
export { codecsByType, decodeFor, kvKey } from "./view.js";

export type { AuditEntry } from "./audit.js";
export type { RowDiff, Rows, StoredRow } from "./fold.js";
export type { Projections, ProjectionsDeps, ViewStatus } from "./runner/live.js";
export type { Progress, ViewReport } from "./runner/replay.js";
export type { AnyView, Decoded, View, ViewEvent } from "./view.js";
