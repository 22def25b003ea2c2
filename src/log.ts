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

/**
 * The logger `ganglion up` uses in a terminal: the same records, made readable by pino-pretty
 * (time, level, message, then the fields), written synchronously on stderr.
 */
export const createPrettyLogger = async (level: LogLevel, name = "ganglion"): Promise<Logger> => {
  const { default: pretty } = await import("pino-pretty");
  return pino(
    { name, level, base: { pid: process.pid } },
    pretty({ destination: 2, sync: true, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" }),
  );
};
