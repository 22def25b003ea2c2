import t from "tap";
import { haveChromium } from "./browser.js";

// A new user's first steps (`ganglion up --example`, the printed URL, the form): ./example.scenario.ts.
// A real bus, a worker and a browser on a loaded machine: more than the default 120 s per file.
t.setTimeout(360_000);
if (haveChromium(t)) await import("./example.scenario.js");
