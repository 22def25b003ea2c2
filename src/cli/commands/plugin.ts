import { chmod, rename, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { defaultCatalog, describeCapability } from "../../contract/catalog.js";
import type { Manifest } from "../../plugins/manifest.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../contract/endpoints.js";
import type { PluginCommandResult, PluginView } from "../../contract/responses.js";
import { serviceClient } from "../../service/client.js";
import { JS_BUS_API } from "../../contract/subjects.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { checkManifestFile } from "../manifestFile.js";
import { registerValidate } from "./pluginValidate.js";

/** Who the events will say did it: the operator's OS user. */
const actor = () => {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    return "operator";
  }
};

const call = async <N extends EndpointName>(nc: NatsConnection, endpoint: N, req: RequestOf<N>): Promise<ResponseOf<N>> => {
  const r = await serviceClient(nc, { actor: actor() }).call(endpoint, req);
  if (E.isLeft(r)) {
    const code = r.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure;
    throw new CliError(r.left.code === "InvalidRequest" || r.left.code === "Unavailable" ? r.left.message : `${r.left.message} (${r.left.code})`, code, {
      code: r.left.code,
      ...(r.left.paths ? { paths: r.left.paths } : {}),
    });
  }
  return r.right;
};

const splitList = (v: string) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

const changed = (r: PluginCommandResult, what: string) => (r.events.length === 0 ? `nothing to do: ${what}` : `${what} (${r.events.join(", ")})`);

/** Reads and decodes a manifest file, refusing it with every `path: reason` before any call (the checks of `plugin validate`). */
const readManifest = async (file: string): Promise<{ text: string; manifest: Manifest }> => {
  const { text, result } = await checkManifestFile(file);
  if (E.isLeft(result)) {
    throw new CliError(`${file} is not a valid manifest:\n  ${result.left.map((p) => `${p.path}: ${p.reason}`).join("\n  ")}`, ExitCode.Failure, {
      code: "InvalidManifest",
      paths: result.left.map((p) => p.path),
    });
  }
  return { text, manifest: result.right };
};

/** The `run:` section in plain words: the command line, where, how many, and the env names (values may be secret references). */
export const runSummary = (run: NonNullable<Manifest["run"]>): string =>
  [
    `The core's runner will start ${run.instances} instance(s) of: ${[run.command, ...run.args].map((a) => JSON.stringify(a)).join(" ")}`,
    ...(run.cwd ? [`  in ${run.cwd}`] : []),
    ...(run.image ? [`  image ${run.image} (docker backend)`] : []),
    ...(Object.keys(run.env).length > 0
      ? [
          `  with env ${Object.entries(run.env)
            .map(([k, v]) => (v.startsWith("secret://") ? `${k}=${v}` : k))
            .join(", ")}`,
        ]
      : []),
    `  restart ${run.restart.mode}, a crash loop (${run.restart.crashLoop.restarts} exits in ${run.restart.crashLoop.window / 1000}s) disables the plugin`,
  ].join("\n") + "\n";

/** Asks the operator, in plain words, which capabilities to grant. Undefined: leave it pending. */
const prompt = async (ctx: CliContext, m: Manifest): Promise<string[] | "all" | undefined> => {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (m.capabilities.length === 0) {
      const a = (await rl.question(`Approve plugin ${m.id}? It asks for no capability. [y/N] `)).trim().toLowerCase();
      return a === "y" || a === "yes" ? [] : undefined;
    }
    const a = (await rl.question("Grant [a]ll of these, [s]ome (one by one), or [n]one (leave it pending)? [a/s/N] ")).trim().toLowerCase();
    if (a === "a" || a === "all") return "all";
    if (a !== "s" && a !== "some") return undefined;
    const picked: string[] = [];
    for (const c of m.capabilities) {
      const y = (await rl.question(`  ${c}: ${describeCapability(defaultCatalog(), c)}\n  Grant it? [y/N] `)).trim().toLowerCase();
      if (y === "y" || y === "yes") picked.push(c);
    }
    ctx.io.stderr(picked.length === 0 ? "No capability granted: the plugin is approved with none.\n" : "");
    return picked;
  } finally {
    rl.close();
  }
};

const printPlugin = (ctx: CliContext, cmd: Command, p: PluginView, message: string) => {
  const out = ctx.output(cmd);
  if (out.json) return out.record({ ...p, message });
  ctx.io.stdout(`${message}\n`);
  out.record({
    plugin: `${p.pluginId} ${p.version}`,
    status: p.status,
    granted: p.granted.length > 0 ? p.granted.join(" ") : "(none)",
    pending: p.pending.length > 0 ? p.pending.join(" ") : "(none)",
  });
};

/** Writes a .creds file atomically with mode 0600. */
const writeCreds = async (path: string, creds: string) => {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, creds, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
};

const parseCaps = (v: string, prev: string[] = []) => [...prev, ...splitList(v)];

export const register = (program: Command, ctx: CliContext) => {
  const plugin = program
    .command("plugin")
    .summary("install, approve and manage plugins, and mint their credentials")
    .description("Plugins: install from a manifest, approve or revoke capabilities, disable, enable, remove, and mint credentials.");

  registerValidate(plugin, ctx);

  plugin
    .command("install")
    .argument("<manifest>", "manifest file (YAML or JSON)")
    .summary("install (or upgrade) a plugin from its manifest")
    .description(
      "Install a plugin, or upgrade it to the manifest's newer version. Shows each capability it asks for in plain words and asks which to grant when run in a terminal; --yes grants all, --grant a,b a subset. Without a terminal and without either, the plugin is installed pending approval.",
    )
    .option("-y, --yes", "grant every capability the manifest asks for", false)
    .option("--grant <capabilities>", "grant only these (comma-separated)", parseCaps)
    .action(async (file: string, opts: { yes: boolean; grant?: string[] }, cmd: Command) => {
      if (opts.yes && opts.grant) throw new CliError("--yes and --grant are mutually exclusive: --yes grants everything", ExitCode.Usage);
      const { text, manifest } = await readManifest(file);
      const catalog = defaultCatalog();
      const json = ctx.output(cmd).json;
      if (!json) {
        ctx.io.stderr(`Plugin ${manifest.id} ${manifest.version}: ${manifest.description}\n`);
        if (manifest.provides.length > 0) ctx.io.stderr(`Serves: ${manifest.provides.map((p) => p.type).join(", ")}\n`);
        ctx.io.stderr(manifest.capabilities.length === 0 ? "It asks for no capability.\n" : "It asks to:\n");
        for (const c of manifest.capabilities) ctx.io.stderr(`  - ${c}: ${describeCapability(catalog, c)}\n`);
        // What a runner will execute once it is approved (issue 16): shown before the operator agrees.
        if (manifest.run) ctx.io.stderr(runSummary(manifest.run));
      }
      let grant: string[] | "all" | undefined = opts.yes ? "all" : opts.grant;
      if (grant === undefined && process.stdin.isTTY && !json) grant = await prompt(ctx, manifest);
      const r = await ctx.withBus(cmd, (nc) => call(nc, "plugin.install", { manifestText: text, ...(grant !== undefined ? { grant } : {}) }));
      const p = r.plugin;
      const how =
        p.status === "pending"
          ? `It is pending approval. Approve it with:\n  ganglion plugin approve ${p.pluginId}${p.pending.length > 0 ? ` ${p.pending.join(" ")}` : ""}`
          : p.pending.length > 0
            ? `Not granted yet: ${p.pending.join(", ")} (ganglion plugin approve ${p.pluginId} <capability...>).`
            : `Mint its credentials with: ganglion plugin creds ${p.pluginId} -o ${p.pluginId}.creds`;
      printPlugin(ctx, cmd, p, `${changed(r, `plugin ${p.pluginId} ${p.version} installed`)}\n${how}`);
    });

  plugin
    .command("approve")
    .argument("<id>", "plugin id")
    .argument("[capabilities...]", "capabilities to grant (none: approve the plugin with no capability)")
    .option("--all", "grant every capability it asks for", false)
    .option("--allow-from <cidr...>", "credentials minted from now on connect only from these networks (e.g. 10.0.0.0/8); an empty string lifts it")
    .summary("grant capabilities a plugin asks for")
    .action(async (id: string, caps: string[], opts: { all: boolean; allowFrom?: string[] }, cmd: Command) => {
      if (opts.all && caps.length > 0) throw new CliError("give capabilities or --all, not both", ExitCode.Usage);
      const allowFrom = opts.allowFrom?.flatMap(splitList).filter((x) => x !== "");
      const r = await ctx.withBus(cmd, (nc) =>
        call(nc, "plugin.approve", { pluginId: id, capabilities: opts.all ? "all" : caps.flatMap(splitList), ...(allowFrom ? { allowFrom } : {}) }),
      );
      printPlugin(ctx, cmd, r.plugin, changed(r, `plugin ${id} approved`));
    });

  plugin
    .command("revoke")
    .argument("<id>", "plugin id")
    .argument("<capabilities...>", "capabilities to withdraw")
    .option("--reason <text>", "why (recorded in the log)")
    .summary("withdraw capabilities; the plugin's live connections lose them at once")
    .action(async (id: string, caps: string[], opts: { reason?: string }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) =>
        call(nc, "plugin.revoke", { pluginId: id, capabilities: caps.flatMap(splitList), ...(opts.reason ? { reason: opts.reason } : {}) }),
      );
      printPlugin(
        ctx,
        cmd,
        r.plugin,
        `${changed(r, `revoked ${caps.join(", ")} from ${id}`)}\nIts account no longer imports them: live connections lost them at once, and its credentials stay valid.`,
      );
    });

  for (const [name, summary] of [
    ["disable", "disable a plugin: its live credentials are revoked at once"],
    ["remove", "remove a plugin: its live credentials are revoked at once"],
  ] as const) {
    plugin
      .command(name)
      .argument("<id>", "plugin id")
      .option("--reason <text>", "why (recorded in the log)")
      .summary(summary)
      .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
        const r = await ctx.withBus(cmd, (nc) =>
          call(nc, name === "disable" ? "plugin.disable" : "plugin.remove", { pluginId: id, ...(opts.reason ? { reason: opts.reason } : {}) }),
        );
        printPlugin(ctx, cmd, r.plugin, changed(r, `plugin ${id} ${name === "disable" ? "disabled" : "removed"}`));
      });
  }

  plugin
    .command("enable")
    .argument("<id>", "plugin id")
    .summary("enable a disabled plugin (it needs new credentials)")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => call(nc, "plugin.enable", { pluginId: id }));
      printPlugin(ctx, cmd, r.plugin, `${changed(r, `plugin ${id} enabled`)}\nMint new credentials with \`ganglion plugin creds ${id}\`.`);
    });

  plugin
    .command("list")
    .option("--all", "include removed plugins", false)
    .summary("list plugins with their status and grants")
    .action(async (opts: { all: boolean }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => call(nc, "plugin.list", opts.all ? { all: true } : {}));
      ctx.output(cmd).table(r.plugins, [
        { header: "plugin", value: (p) => p.pluginId },
        { header: "version", value: (p) => p.version },
        { header: "status", value: (p) => p.status },
        { header: "provides", value: (p) => p.provides.join(" ") },
        { header: "granted", value: (p) => p.granted.join(" ") },
        { header: "pending", value: (p) => p.pending.join(" ") },
      ]);
    });

  plugin
    .command("show")
    .argument("<id>", "plugin id")
    .summary("show a plugin, its manifest and its capabilities in plain words")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const [r, config] = await ctx.withBus(cmd, (nc) =>
        // A core older than live config has no plugin.config.get: show the rest, and say so.
        Promise.all([
          call(nc, "plugin.show", { pluginId: id }),
          call(nc, "plugin.config.get", { pluginId: id }).catch((err: unknown) => ({ unavailable: String(err) })),
        ]),
      );
      const out = ctx.output(cmd);
      if (out.json) return out.record({ ...r, config });
      const p = r.plugin;
      out.record({
        plugin: p.pluginId,
        version: p.version,
        description: p.description,
        status: p.status + (p.disabledReason ? ` (${p.disabledReason})` : ""),
        provides: p.provides.join(" "),
        "live credentials": p.liveCredentials.length,
        "self-registered": p.selfRegistered,
      });
      ctx.io.stdout("\n");
      out.table(r.capabilities, [
        { header: "capability", value: (c) => c.capability },
        { header: "granted", value: (c) => (c.granted ? "yes" : "PENDING") },
        { header: "meaning", value: (c) => c.meaning },
      ]);
      ctx.io.stdout(
        "unavailable" in config
          ? `\nconfig: unavailable (${config.unavailable})\n`
          : `\nconfig (version ${config.version}): ${JSON.stringify(config.config, null, 2)}\n`,
      );
    });

  plugin
    .command("creds")
    .argument("<id>", "plugin id")
    .option("-o, --output <file>", "write the .creds file here (mode 0600) instead of stdout")
    .option("--ttl <duration>", 'expire the credentials after this long (e.g. "24h", "30d"); default: no expiry')
    .option(
      "--allow-from <cidr...>",
      "accept connections with these credentials only from these networks (e.g. 10.0.0.0/8); default: the manifest's network.allowFrom, else anywhere",
    )
    .summary("mint credentials for an approved plugin")
    .description(
      `Mint a user of the plugin's own NATS account as a standard .creds file. What the user can reach is what the account imports: its own task queue, reports, heartbeats and control, plus one import per granted capability; grants and revocations change the account live, with no new credentials. Workers open JetStream with the API prefix ${JS_BUS_API}. Only the public key is recorded in the log.`,
    )
    .action(async (id: string, opts: { output?: string; ttl?: string; allowFrom?: string[] }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) =>
        call(nc, "plugin.creds", {
          pluginId: id,
          ...(opts.ttl ? { ttl: opts.ttl } : {}),
          ...(opts.allowFrom ? { allowFrom: opts.allowFrom } : {}),
        }),
      );
      if (!opts.output) {
        ctx.io.stdout(r.creds);
        return;
      }
      const path = resolve(opts.output);
      await writeCreds(path, r.creds);
      const out = ctx.output(cmd);
      out.message(
        `wrote ${path} (mode 0600) for plugin ${id}: user ${r.publicKey}, ${r.expiresAt ? `expires ${r.expiresAt}` : "no expiry"}, grants: ${r.capabilities.length > 0 ? r.capabilities.join(" ") : "(none)"}${r.allowFrom.length > 0 ? `, from ${r.allowFrom.join(" ")} only` : ""}\nThe user belongs to the plugin's own account: grants apply to live connections. Open JetStream with API prefix ${JS_BUS_API}.`,
        { file: path, publicKey: r.publicKey, expiresAt: r.expiresAt, capabilities: r.capabilities, allowFrom: r.allowFrom, jsApiPrefix: JS_BUS_API },
      );
    });
};
