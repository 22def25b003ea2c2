import t from "tap";
import { haveChromium } from "./browser.js";

// The console's Pipelines page in headless Chromium against a real bus and worker: ./pipelines.scenario.ts.
// A real bus, a worker and a browser on a loaded machine: more than the default 120 s per file.
t.setTimeout(360_000);
if (haveChromium(t)) await import("./pipelines.scenario.js");
