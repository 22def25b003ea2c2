import type { ConsoleOptions, ConsoleServer } from "./server.js";
import { startConsole } from "./server.js";

export { startConsole } from "./server.js";
export type { ConsoleOptions, ConsoleServer } from "./server.js";

/** The console's port when none is given; when it is taken, a free one is picked (and printed). */
export const DEFAULT_CONSOLE_PORT = 4280;

/** Starts the console on `port`, or with no port given on the default one, else any free one. */
export const startConsoleOn = async (opts: Omit<ConsoleOptions, "port">, port: number | undefined): Promise<ConsoleServer> => {
  if (port !== undefined) return startConsole({ ...opts, port });
  try {
    return await startConsole({ ...opts, port: DEFAULT_CONSOLE_PORT });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    return startConsole({ ...opts, port: 0 });
  }
};

/** The lines `ganglion up` / `serve --console` print after the ready line. */
export const consoleLines = (c: ConsoleServer, page = ""): string[] => [
  // The browser keeps the fragment across the login's redirect: it opens that page.
  `console: ${c.loginUrl("operator")}${page}`,
  `console (read-only, may submit tasks): ${c.loginUrl("viewer")}${page}`,
];
