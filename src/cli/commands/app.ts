import { chmod, rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { AppView } from "../../contract/app.js";
import type { CliContext } from "../context.js";
import { callOrThrow } from "../call.js";

const call = callOrThrow;

/** Writes a .creds file atomically with mode 0600. */
const writeCreds = async (path: string, creds: string) => {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, creds, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
};

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(/[\s,]+/).filter((x) => x.length > 0)];

const ALLOW_FROM = "--allow-from <cidr>";
const ALLOW_FROM_HELP =
  "accept connections with these credentials only from these networks (e.g. 10.0.0.0/8; repeat, or separate with commas): their user JWT's src";
const fromNote = (allowFrom?: readonly string[]) => (allowFrom && allowFrom.length > 0 ? `, from ${allowFrom.join(" ")} only` : "");

const printApp = (ctx: CliContext, cmd: Command, a: AppView, note?: string) => {
  const out = ctx.output(cmd);
  if (out.json) return out.record(a as unknown as Record<string, unknown>);
  if (note) ctx.io.stdout(`${note}\n`);
  out.record({ app: a.appId, status: a.status, grants: a.grants.length > 0 ? a.grants.join(" ") : "(none)", account: a.account });
};

/**
 * `ganglion app …`: applications, the principals that submit work from their own code (`import {
 * Client } from "ganglion"`). Each has an account of its own whose imports are its grants.
 */
export const register = (program: Command, ctx: CliContext) => {
  const app = program
    .command("app")
    .summary("applications that submit tasks with their own credentials")
    .description(
      "Applications: principals with a NATS account of their own, granted task.submit:<type> capabilities. An application's credentials reach only the task types it is granted, and read and cancel only its own tasks.",
    );

  app
    .command("add")
    .argument("<name>", "application id: lower-case letters, digits and '-', at most 30")
    .option("--grant <capability...>", "task.submit:<type> or pipeline.run:<pipeline> capabilities to grant (repeat, or separate with commas)", collect, [])
    .option("-o, --output <file>", "write its .creds here (mode 0600); default <name>.creds")
    .option("--ttl <duration>", 'expire the credentials after this long (e.g. "30d"); default: no expiry')
    .option(ALLOW_FROM, ALLOW_FROM_HELP, collect)
    .summary("add an application and mint its credentials")
    .action(async (name: string, opts: { grant: string[]; output?: string; ttl?: string; allowFrom?: string[] }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) =>
        call(nc, "app.add", {
          appId: name,
          grants: opts.grant,
          ...(opts.ttl ? { ttl: opts.ttl } : {}),
          ...(opts.allowFrom ? { allowFrom: opts.allowFrom } : {}),
        }),
      );
      const path = resolve(opts.output ?? `${name}.creds`);
      await writeCreds(path, r.creds);
      ctx
        .output(cmd)
        .message(
          `added application ${name} (grants: ${opts.grant.length > 0 ? opts.grant.join(" ") : "(none)"})\nwrote ${path} (mode 0600): user ${r.publicKey}, ${r.expiresAt ? `expires ${r.expiresAt}` : "no expiry"}${fromNote(opts.allowFrom)}\nConnect with: Client.connect({ servers, creds: ${JSON.stringify(path)} })`,
          { appId: name, file: path, publicKey: r.publicKey, expiresAt: r.expiresAt, grants: opts.grant, allowFrom: opts.allowFrom ?? [] },
        );
    });

  app
    .command("grant")
    .argument("<name>", "application id")
    .argument("<capability...>", "task.submit:<type> or pipeline.run:<pipeline> capabilities")
    .summary("grant an application more task types (live)")
    .action(async (name: string, caps: string[], _o: unknown, cmd: Command) => {
      printApp(ctx, cmd, await ctx.withBus(cmd, (nc) => call(nc, "app.grant", { appId: name, capabilities: caps })));
    });

  app
    .command("revoke")
    .argument("<name>", "application id")
    .argument("<capability...>", "task.submit:<type> capabilities to withdraw")
    .option("--reason <text>", "recorded in the log")
    .summary("withdraw task types from an application (live, open connections included)")
    .action(async (name: string, caps: string[], o: { reason?: string }, cmd: Command) => {
      printApp(
        ctx,
        cmd,
        await ctx.withBus(cmd, (nc) => call(nc, "app.revoke", { appId: name, capabilities: caps, ...(o.reason ? { reason: o.reason } : {}) })),
      );
    });

  app
    .command("remove")
    .argument("<name>", "application id")
    .option("--reason <text>", "recorded in the log")
    .summary("remove an application: its credentials are revoked, its account imports nothing")
    .action(async (name: string, o: { reason?: string }, cmd: Command) => {
      printApp(ctx, cmd, await ctx.withBus(cmd, (nc) => call(nc, "app.remove", { appId: name, ...(o.reason ? { reason: o.reason } : {}) })));
    });

  app
    .command("creds")
    .argument("<name>", "application id")
    .option("-o, --output <file>", "write the .creds file here (mode 0600) instead of stdout")
    .option("--ttl <duration>", 'expire the credentials after this long (e.g. "30d")')
    .option(ALLOW_FROM, ALLOW_FROM_HELP, collect)
    .summary("mint new credentials for an application")
    .action(async (name: string, o: { output?: string; ttl?: string; allowFrom?: string[] }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) =>
        call(nc, "app.creds", { appId: name, ...(o.ttl ? { ttl: o.ttl } : {}), ...(o.allowFrom ? { allowFrom: o.allowFrom } : {}) }),
      );
      if (!o.output) return void ctx.io.stdout(r.creds);
      const path = resolve(o.output);
      await writeCreds(path, r.creds);
      ctx.output(cmd).message(`wrote ${path} (mode 0600) for application ${name}: user ${r.publicKey}${fromNote(o.allowFrom)}`, {
        file: path,
        publicKey: r.publicKey,
        expiresAt: r.expiresAt,
        allowFrom: o.allowFrom ?? [],
      });
    });

  app
    .command("list")
    .option("--all", "include removed applications", false)
    .summary("applications, their grants and live credentials")
    .action(async (o: { all: boolean }, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) => call(nc, "app.list", { all: o.all }));
      ctx.output(cmd).table(rows, [
        { header: "app", value: (a) => a.appId },
        { header: "status", value: (a) => a.status },
        { header: "credentials", value: (a) => a.liveCredentials.length },
        { header: "grants", value: (a) => (a.grants.length > 0 ? a.grants.join(" ") : "(none)") },
      ]);
    });
};
