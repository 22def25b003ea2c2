import { parentPort } from "node:worker_threads";
import { defaultCatalog } from "../contract/catalog.js";
import { decodeManifest, decodeManifestValue } from "./manifest.js";
import { warmPatternChecker } from "./schemas.js";
import { OFF_LOOP_PATTERN_BUDGET_MS } from "./manifestCheck.js";
import type { CheckRequest } from "./manifestCheck.js";

/**
 * The thread `manifestChecker` runs manifest checks in (`manifestCheck.ts`): YAML or JSON parsing,
 * the schema size and pattern checks (recheck) and ajv's compile and probes, all CPU work on
 * untrusted input, here instead of on the core's event loop. One request at a time.
 */

// recheck starts its own agent on first use: once, before any manifest's budget runs.
warmPatternChecker();
parentPort?.on("message", (req: CheckRequest) => {
  try {
    const result =
      "text" in req
        ? decodeManifest(req.text, "yaml", defaultCatalog(), OFF_LOOP_PATTERN_BUDGET_MS)
        : decodeManifestValue(req.value, defaultCatalog(), OFF_LOOP_PATTERN_BUDGET_MS);
    parentPort?.postMessage({ id: req.id, result });
  } catch (err) {
    parentPort?.postMessage({ id: req.id, error: (err as Error).message ?? String(err) });
  }
});
parentPort?.postMessage({ ready: true });
