import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { extname, resolve } from "node:path";
import type { Command } from "commander";
import * as E from "fp-ts/lib/Either.js";
import { parse as parseYaml } from "yaml";
import { serviceClient } from "../../service/client.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";

const actor = () => {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    return "operator";
  }
};

/** `key=value`: the value as JSON when it parses (`n=3`, `on=true`, `tags=["a"]`), else the text (`url=https://x`, `key=secret://api.key`). */
export const parseAssignment = (a: string): [string, unknown] => {
  const i = a.indexOf("=");
  if (i <= 0) throw new CliError(`${JSON.stringify(a)}: write key=value`, ExitCode.Usage);
  const key = a.slice(0, i);
  if (key === "__proto__" || key === "constructor" || key === "prototype") throw new CliError(`${key} is not a config key`, ExitCode.Usage);
  const text = a.slice(i + 1);
  try {
    return [key, JSON.parse(text)];
  } catch {
    return [key, text];
  }
};

/** `ganglion plugin config set|unset|show`, under `plugin` (registered after it). */
export const register = (program: Command, ctx: CliContext) => {
  const plugin = program.commands.find((c) => c.name() === "plugin");
  if (!plugin) throw new Error("the plugin command group must be registered before plugin config");
  const config = plugin.command("config").summary("a plugin's live config: validated against its manifest's schema, sent to running workers at once");
  config
    .command("set")
    .argument("<plugin>", "plugin id")
    .argument("[assignments...]", "key=value (value as JSON when it parses, else text; secret://<name> stays a reference)")
    .option("--file <file>", "replace the whole config with this JSON or YAML file")
    .option("--unset <key...>", "remove these keys")
    .summary("change a plugin's config (key=value..., or --file to replace it)")
    .action(async (id: string, assignments: string[], o: { file?: string; unset?: string[] }, cmd: Command) => {
      if (o.file && assignments.length > 0) throw new CliError("give key=value pairs or --file, not both", ExitCode.Usage);
      let replace: Record<string, unknown> | undefined;
      if (o.file) {
        let text: string;
        try {
          text = await readFile(resolve(o.file), "utf8");
        } catch (err) {
          throw new CliError(`cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.Usage);
        }
        let v: unknown;
        try {
          v = extname(o.file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
        } catch (err) {
          throw new CliError(`${o.file} is not valid JSON/YAML: ${(err as Error).message.split("\n")[0]}`, ExitCode.Usage);
        }
        if (!v || typeof v !== "object" || Array.isArray(v)) throw new CliError(`${o.file} must hold an object`, ExitCode.Usage);
        replace = v as Record<string, unknown>;
      }
      if (!o.file && assignments.length === 0 && !o.unset?.length)
        throw new CliError("nothing to change: give key=value pairs, --unset or --file", ExitCode.Usage);
      const set = Object.fromEntries(assignments.map(parseAssignment));
      const r = await ctx.withBus(cmd, (nc) =>
        serviceClient(nc, { actor: actor() }).call("plugin.config.set", {
          pluginId: id,
          ...(replace ? { replace } : { set }),
          ...(o.unset?.length ? { unset: o.unset } : {}),
        }),
      );
      if (E.isLeft(r)) throw new CliError(`${r.left.message} (${r.left.code})`, r.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure);
      ctx.output(cmd).message(`plugin ${id} config version ${r.right.version}: ${JSON.stringify(r.right.config)}`, r.right);
    });
  config
    .command("show")
    .argument("<plugin>", "plugin id")
    .summary("the config in force")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => serviceClient(nc, { actor: actor() }).call("plugin.config.get", { pluginId: id }));
      if (E.isLeft(r)) throw new CliError(`${r.left.message} (${r.left.code})`, ExitCode.Failure);
      ctx.output(cmd).record(r.right);
    });
};
