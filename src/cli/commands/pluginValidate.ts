import type { Command } from "commander";
import * as E from "fp-ts/lib/Either.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { checkManifestFile } from "../manifestFile.js";

/**
 * `ganglion plugin validate <manifest>`: the checks of `plugin install` without a bus, for plugin
 * authors' CI and upload checks. Exit 0 when valid, 1 with every `path: reason` when not.
 */
export const registerValidate = (plugin: Command, ctx: CliContext) => {
  plugin
    .command("validate")
    .argument("<manifest>", "manifest file (YAML or JSON)")
    .summary("check a manifest as install would, without a bus (exit 0 valid, 1 invalid)")
    .description(
      "Run every check `plugin install` runs on a manifest, with no bus: size, YAML/JSON, shape, names, JSON Schemas (compiled, bounded, patterns proven linear), capabilities against the shipped catalog, limits and durations. Prints each error as `path: reason` and exits 1, or exits 0. With --json: {valid, file, id, version, errors: [{path, reason}]} on stdout. Upgrade checks (downgrade, same version with another manifest) need the bus and are left to install.",
    )
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const { result } = await checkManifestFile(file);
      const out = ctx.output(cmd);
      if (E.isRight(result)) {
        const m = result.right;
        out.message(`${file}: valid manifest of plugin ${m.id} ${m.version}`, { valid: true, file, id: m.id, version: m.version, errors: [] });
        return;
      }
      const problems = result.left;
      if (out.json) out.message("", { valid: false, file, errors: problems });
      else ctx.io.stdout(problems.map((p) => `${p.path}: ${p.reason}\n`).join(""));
      throw new CliError(`${file} is not a valid manifest (${problems.length} error${problems.length === 1 ? "" : "s"})`, ExitCode.Failure, {
        code: "InvalidManifest",
        paths: problems.map((p) => p.path),
      });
    });
};
