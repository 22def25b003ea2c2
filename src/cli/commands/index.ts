import type { Command } from "commander";
import type { CliContext } from "../context.js";
import * as app from "./app.js";
import * as artifact from "./artifact.js";
import * as audit from "./audit.js";
import * as compose from "./compose.js";
import * as natsContext from "./natsContext.js";
import * as pipeline from "./pipeline.js";
import * as plugin from "./plugin.js";
import * as pluginConfig from "./pluginConfig.js";
import * as projections from "./projections.js";
import * as secret from "./secret.js";
import * as serve from "./serve.js";
import * as status from "./status.js";
import * as task from "./task.js";
import * as tls from "./tls.js";
import * as types from "./types.js";
import * as up from "./up.js";
import * as views from "./views.js";
import * as worker from "./worker.js";

/** A command group: adds its commands to the program (use `program.command(...)`, not `addCommand`, so settings are inherited). */
export type CommandGroup = { readonly register: (program: Command, ctx: CliContext) => void };

/** Every command group, in the order `ganglion --help` lists them. Add yours here. */
export const commandGroups: readonly CommandGroup[] = [
  up,
  serve,
  status,
  plugin,
  pluginConfig,
  secret,
  task,
  views,
  projections,
  audit,
  natsContext,
  tls,
  compose,
  worker,
  app,
  artifact,
  types,
  // Pipelines
  pipeline,
];
