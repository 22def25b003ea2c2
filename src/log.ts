import { pino } from "pino";
import type { Logger } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger };

/**
 * The process logger: JSON lines on stderr (stdout belongs to command output), at `level`.
 * Components get children of it (`log.child({ component })`); nothing imports this module
 * except the composition roots.
 */
export const createLogger = (level: LogLevel, name = "ganglion"): Logger =>
  pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
