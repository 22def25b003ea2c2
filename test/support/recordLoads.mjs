// Records every module URL the process resolves into $LOADS_FILE (test/architecture/layers.test.ts).
import { register } from "node:module";
register("./recordLoadsHooks.mjs", import.meta.url);
