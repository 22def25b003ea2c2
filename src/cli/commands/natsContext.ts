import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { AccountPushError, accountAuthority } from "../../auth/accountAuthority.js";
import { AuthorityError, credsDir, loadOrCreateAuthority, mintSysUser, sysCredsPath, writeSecret } from "../../auth/authority.js";
import { issueOpsCredentials, MAX_CONTROL_LINE, OpsNotReadyError, READ_ONLY_INBOX } from "../../auth/ops.js";
import { parseDuration } from "../../plugins/manifest.js";
import { natsTls } from "../../contract/tls.js";
import { clientTlsOf } from "../connection.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { natsContextDir } from "../profile.js";

/** Where the nats CLI looks for contexts (home from the password database, as the nats CLI finds it). */
export { natsContextDir } from "../profile.js";

/** The fields of a nats CLI context file that Ganglion sets (`ca`, `cert`, `key`: PEM files, for a TLS bus). */
export type NatsContextFile = { description: string; url: string; creds: string; inbox_prefix: string; ca?: string; cert?: string; key?: string };

/** `ganglion nats-context [--name ganglion]`: a nats CLI context with read-only operator credentials. */
export const register = (program: Command, ctx: CliContext) => {
  program
    .command("nats-context")
    .summary("write a nats CLI context with read-only credentials (views, log, service queries)")
    .description(
      "Mint read-only operator credentials and write a nats CLI context for them, so that `nats --context <name> kv get plugins <id>`, `nats kv ls`, `nats micro info ganglion`, `nats req ganglion.v1.views.plugins '{}'` and `nats stream view EVENTS` work. The credentials (a user of the OPS account) read OPS's copies of the view buckets and the log and call the query endpoints; they write nothing. Every run revokes the read-only credentials minted before. Needs the installation's keys (--data-dir) and a bus whose core has run once.",
    )
    .option("--name <name>", "context name", "ganglion")
    .option("--url <url>", "server URL to put in the context (default: the bus this CLI reaches)")
    .option("--ttl <duration>", 'expire the credentials after this long (e.g. "8h", "30d"); default: no expiry')
    .action(async (opts: { name: string; url?: string; ttl?: string }, cmd: Command) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(opts.name)) throw new CliError(`--name ${JSON.stringify(opts.name)}: use letters, digits, '-' or '_'`, ExitCode.Usage);
      const ttlMs = opts.ttl === undefined ? undefined : parseDuration(opts.ttl);
      if (opts.ttl !== undefined && (ttlMs === undefined || ttlMs <= 0))
        throw new CliError(`--ttl ${JSON.stringify(opts.ttl)} is not a duration like "8h" or "30d"`, ExitCode.Usage);
      const g = ctx.globals(cmd);
      const dataDir = resolve(g.dataDir);
      const url = opts.url ?? (await ctx.target(cmd)).url;
      // TLS as this CLI would connect to `url`: its CA, and the client certificate when the bus verifies clients.
      const tls = await clientTlsOf(g, ctx.config, url);
      let authority;
      try {
        authority = await loadOrCreateAuthority(dataDir, { create: false });
      } catch (err) {
        if (!(err instanceof AuthorityError)) throw err;
        throw new CliError(
          `nats-context mints credentials with the installation's keys, and ${dataDir} has none usable (${err.message}). Run it with --data-dir pointing at the data dir of \`ganglion up\` (or of \`ganglion compose init\`).`,
          ExitCode.Setup,
        );
      }
      // A user of the OPS account (src/auth/ops.ts). Minting revokes every OPS user minted before:
      // the OPS account JWT is pushed again with `revocations: {"*": now}`.
      const bus = await ctx.target(cmd);
      const sysCreds = (await readFile(sysCredsPath(dataDir), "utf8").catch(() => undefined)) ?? (await mintSysUser(authority)).creds;
      const pushTls = bus.tls ? natsTls(bus.tls) : undefined;
      const accounts = accountAuthority({ authority, sysCreds, servers: bus.url, ...(pushTls ? { tls: pushTls } : {}) });
      let user;
      try {
        user = await issueOpsCredentials({
          accounts,
          sysCreds,
          servers: bus.url,
          tls: pushTls,
          name: `ganglion-readonly-${opts.name}`,
          ...(ttlMs !== undefined ? { ttlMs } : {}),
        });
      } catch (err) {
        if (err instanceof OpsNotReadyError) throw new CliError(err.message, ExitCode.Setup);
        if (err instanceof AccountPushError) throw new CliError(`${err.message}. Is the bus at ${bus.url} running?`, ExitCode.Unreachable, { cause: err });
        throw err;
      } finally {
        await accounts.close();
      }
      // The JWT travels in the CONNECT line; past nats-server's default limit the client would
      // only see a connect timeout.
      if (user.jwt.length + 512 > MAX_CONTROL_LINE) {
        ctx.io.stderr(
          `warning: the read-only user JWT is ${user.jwt.length} bytes; with the CONNECT line around it, it may exceed nats-server's default max_control_line (${MAX_CONTROL_LINE}). Raise max_control_line on the server if connecting with this context times out.\n`,
        );
      }
      await mkdir(credsDir(dataDir), { recursive: true, mode: 0o700 });
      const credsPath = join(credsDir(dataDir), `nats-context-${opts.name}.creds`);
      await writeSecret(credsPath, user.creds);
      const dir = natsContextDir(ctx.config.xdgConfigHome);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${opts.name}.json`);
      const context: NatsContextFile = {
        description: `Ganglion (read-only operator credentials, data dir ${dataDir})`,
        url,
        creds: credsPath,
        inbox_prefix: READ_ONLY_INBOX,
        ...(tls?.ca ? { ca: tls.ca } : {}),
        ...(tls?.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      };
      await writeSecret(file, JSON.stringify(context, null, 2) + "\n");
      ctx
        .output(cmd)
        .message(
          [
            `wrote nats CLI context "${opts.name}" to ${file}`,
            `  url:          ${url}`,
            `  creds:        ${credsPath} (read-only, account OPS: its copies of the views and the EVENTS log, $SRV and ganglion.v1 queries)`,
            `  expires:      ${user.expiresAt ?? "never"} (earlier read-only credentials are revoked)`,
            `  inbox_prefix: ${READ_ONLY_INBOX}`,
            ...(context.ca ? [`  ca:           ${context.ca}`] : []),
            ...(context.cert ? [`  cert:         ${context.cert}`, `  key:          ${context.key}`] : []),
            "try:",
            `  nats --context ${opts.name} kv ls plugins`,
            `  nats --context ${opts.name} micro info ganglion`,
            `  nats --context ${opts.name} req ganglion.v1.views.plugins '{}'`,
          ].join("\n"),
          { context: opts.name, file, ...context, publicKey: user.publicKey, expiresAt: user.expiresAt },
        );
    });
};
