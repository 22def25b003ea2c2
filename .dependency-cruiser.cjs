/**
 * The layer rules of src/ (README, Development: "Layout and its rules"). Checked in `npm test`
 * by test/layers.test.ts; `npx depcruise src --config .dependency-cruiser.cjs` prints the same.
 */
const PURE = [
  "^src/events/",
  "^src/contract/",
  "^src/es/(decider|spec)\\.ts$",
  "^src/plugins/(decider|status)\\.ts$",
  "^src/tasks/(decider|status|providers)\\.ts$",
  "^src/projections/(plugins|tasks|workers|totals|capabilities|audit|fold|view)\\.ts$",
  // Pipelines: the decider, the define-time checks and the definition's decoding
  "^src/pipelines/(decider|validate|compat|definition)\\.ts$",
  "^src/projections/pipelines\\.ts$",
];
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "no import cycles", from: {}, to: { circular: true } },
    {
      name: "events-import-only-the-floor",
      severity: "error",
      comment: "src/events/ holds codecs only: it imports io-ts, fp-ts, itself and the contract's manifest (an event carries the manifest)",
      from: { path: "^src/events/" },
      to: { path: "^src/", pathNot: "^src/(events|contract)/" },
    },
    {
      name: "contract-imports-only-events",
      severity: "error",
      comment: "the contract floor (subjects, wire messages, manifest, catalog, service table) imports nothing of ours but events/",
      from: { path: "^src/contract/" },
      to: { path: "^src/", pathNot: "^src/(contract|events)/" },
    },
    {
      name: "pure-files-import-no-nats-and-no-store",
      severity: "error",
      comment: "deciders, folds, codecs and the kit's pure half do no I/O",
      from: { path: PURE },
      to: { path: ["^node_modules/@nats-io/", "^src/store/(eventStore|streamDefinitions)\\.ts$", "^src/(auth|service|cli|embedded|host|sdk|testing)/"] },
    },
    {
      name: "sdk-imports-only-the-contract",
      severity: "error",
      comment: "ganglion/sdk must load without the core",
      from: { path: "^src/sdk/" },
      to: { path: "^src/", pathNot: "^src/(sdk|contract|events)/" },
    },
    {
      name: "nothing-imports-the-cli",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js"] },
  },
};
