#!/usr/bin/env node
// The `ganglion` command. Runs the compiled CLI (dist/, built by `npm install` through `prepare`
// or by `npm run build`). In a checkout whose sources are newer than dist/ (or without dist/), it
// runs the TypeScript sources through tsx instead, so a stale build never answers.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/cli/main.js", import.meta.url);
const src = fileURLToPath(new URL("../src/", import.meta.url));

const newestSource = () => {
  let newest = 0;
  for (const f of readdirSync(src, { recursive: true })) {
    if (String(f).endsWith(".ts")) newest = Math.max(newest, statSync(src + f).mtimeMs);
  }
  return newest;
};

const distIsCurrent = () => existsSync(dist) && (!existsSync(src) || statSync(dist).mtimeMs >= newestSource());

let mod;
if (distIsCurrent()) {
  mod = await import(dist.href);
} else {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    process.stderr.write("ganglion: dist/ is missing or older than src/, and tsx is not installed. Run `npm install` (or `npm run build`) in the Ganglion checkout.\n");
    process.exit(4);
  }
  tsx.register();
  mod = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
await mod.main();
