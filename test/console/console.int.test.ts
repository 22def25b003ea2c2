import t from "tap";
import { haveChromium } from "./browser.js";

// The console in headless Chromium against a real bus and worker: ./console.scenario.ts.
if (haveChromium(t)) await import("./console.scenario.js");
