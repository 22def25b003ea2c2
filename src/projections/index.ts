export { audit, AuditFilter, AuditFilterError, parseTimeBound, toAuditEntry } from "./audit.js";
export { applyEvent, canonical, diffRows, foldAll } from "./fold.js";
export { loadManifests, ManifestError, ViewManifest } from "./manifest.js";
export { READ_ONLY_INBOX, readOnlyPermissions } from "./operatorAccess.js";
export {
  Checkpoint,
  foldLog,
  liveBucket,
  readBucket,
  readCheckpoint,
  readPointer,
  rebuildProjections,
  startProjections,
  verifyProjections,
  ViewPointer,
} from "./runner.js";
export { allViews } from "./views.js";
export { codecsByType, decodeFor, kvKey } from "./view.js";

export type { AuditEntry } from "./audit.js";
export type { RowDiff, Rows, StoredRow } from "./fold.js";
export type { Progress, Projections, ProjectionsDeps, ViewReport, ViewStatus } from "./runner.js";
export type { AnyView, Decoded, View, ViewEvent } from "./view.js";
