#!/usr/bin/env node
// The `ganglion` command. Runs the compiled CLI (dist/, built by `npm install` through `prepare`
// or by `npm run build`); in a clone without dist/ it runs the TypeScript sources through tsx.
import { existsSync } from "node:fs";

const dist = new URL("../dist/cli/main.js", import.meta.url);
let mod;
if (existsSync(dist)) {
  mod = await import(dist.href);
} else {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    process.stderr.write("ganglion: dist/ is missing and tsx is not installed. Run `npm install` (or `npm run build`) in the Ganglion checkout.\n");
    process.exit(4);
  }
  tsx.register();
  mod = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
await mod.main();
