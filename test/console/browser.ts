import { existsSync } from "node:fs";

/** Debian's chromium, as the console tests start it (`.ci/run` installs it when missing). */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * True when Debian's chromium is here. Without it the console tests are skipped outside CI (the
 * README's set-up does not install a browser: only these tests need one); under CI=true, where
 * `.ci/run` installs it, its absence is a failure, never a silent skip.
 */
export const haveChromium = (t: { plan: (n: number, why?: string) => void; fail: (m: string) => void }): boolean => {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === "true") t.fail(`CI=true but ${CHROMIUM} is missing (.ci/run installs the chromium package)`);
  else t.plan(0, `skip: no ${CHROMIUM} here (sudo apt-get install chromium, or CHROMIUM_BIN=...); .ci/run installs it`);
  return false;
};
