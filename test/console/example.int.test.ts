import t from "tap";
import { haveChromium } from "./browser.js";

// A new user's first steps (`ganglion up --example`, the printed URL, the form): ./example.scenario.ts.
if (haveChromium(t)) await import("./example.scenario.js");
