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
