import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { writeSecret } from "../../auth/authority.js";
import { mintClientCertificate } from "../../tls/pki.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { parsePositiveInt } from "../options.js";

/**
 * `ganglion tls client <name> -o DIR`: a client certificate signed by the data dir's CA, for a
 * worker (or any client) of a bus started with `ganglion up --tls --tls-verify`.
 */
export const register = (program: Command, ctx: CliContext) => {
  const tls = program
    .command("tls")
    .summary("TLS certificates of the bus (ganglion up --tls)")
    .description("TLS certificates signed by the CA in <data-dir>/tls/ (made by `ganglion up --tls`).");
  tls
    .command("client")
    .summary("mint a client certificate for a worker (ganglion up --tls-verify)")
    .description(
      "Mint a client certificate and key signed by the data dir's CA, for a client of a bus that verifies clients (`ganglion up --tls --tls-verify`). " +
        "Writes DIR/<name>-cert.pem, DIR/<name>-key.pem (mode 0600) and DIR/ca.pem (the CA, to check the server). " +
        "The certificate only gets a client through the TLS handshake: what it may do is still what its .creds allow.",
    )
    .argument("<name>", "the client's name (its certificate's CN), e.g. the plugin id")
    .option("-o, --output <dir>", "directory to write the files into", ".")
    .option("--days <n>", "validity in days", parsePositiveInt, 365)
    .action(async (name: string, opts: { output: string; days: number }, cmd: Command) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name))
        throw new CliError(`${JSON.stringify(name)}: use letters, digits, '.', '-' or '_' (at most 64)`, ExitCode.Usage);
      const dataDir = resolve(ctx.globals(cmd).dataDir);
      const made = await mintClientCertificate(dataDir, name, { days: opts.days });
      const dir = resolve(opts.output);
      await mkdir(dir, { recursive: true });
      const files = { cert: join(dir, `${name}-cert.pem`), key: join(dir, `${name}-key.pem`), ca: join(dir, "ca.pem") };
      await writeSecret(files.key, made.key, 0o600);
      await writeSecret(files.cert, made.cert, 0o644);
      await writeSecret(files.ca, made.ca, 0o644);
      ctx
        .output(cmd)
        .message(
          [
            `client certificate for ${name} (valid until ${made.notAfter}):`,
            `  cert: ${files.cert}`,
            `  key:  ${files.key} (mode 0600)`,
            `  ca:   ${files.ca}`,
            "a worker connects with:",
            `  new Worker({ ..., servers: "tls://HOST:PORT", tls: { ca: "${files.ca}", cert: "${files.cert}", key: "${files.key}" } })`,
          ].join("\n"),
          { name, ...files, notAfter: made.notAfter },
        );
    });
};
