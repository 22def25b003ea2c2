/**
 * What command groups use: `register(program, ctx)` receives a `CliContext`; expected failures
 * are `CliError`s with an `ExitCode`.
 */
export { createContext } from "./context.js";
export { CliError, describeError, ExitCode } from "./errors.js";
export { connectTarget, readCreds, resolveTarget } from "./connection.js";
export { cellText, createOutput, renderTable } from "./output.js";
export { parsePort, parsePositiveInt } from "./options.js";
export { buildProgram, run } from "./main.js";

export type { CliContext } from "./context.js";
export type { BusTarget, GlobalOptions } from "./connection.js";
export type { CliIo, Column, Output } from "./output.js";
export type { CommandGroup } from "./commands/index.js";
