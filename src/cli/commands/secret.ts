import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { createCurve } from "@nats-io/nkeys";
import type { SecretRow } from "../../contract/secrets.js";
import { namedEnvValue } from "../../config.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { callOrThrow } from "../call.js";

const call = callOrThrow;

type Source = { fromFile?: string; fromEnv?: string };

const readStdin = async (): Promise<Uint8Array> => {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

/** The value: a file's bytes as they are, an environment variable, or stdin without one trailing newline. */
const readValue = async (o: Source): Promise<Uint8Array> => {
  if (o.fromFile && o.fromEnv) throw new CliError("give --from-file or --from-env, not both", ExitCode.Usage);
  if (o.fromFile) {
    try {
      return new Uint8Array(await readFile(resolve(o.fromFile)));
    } catch (err) {
      throw new CliError(`cannot read ${o.fromFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.Usage);
    }
  }
  if (o.fromEnv) {
    const v = namedEnvValue(o.fromEnv);
    if (v === undefined) throw new CliError(`the environment variable ${o.fromEnv} is not set`, ExitCode.Usage);
    return new TextEncoder().encode(v);
  }
  if (process.stdin.isTTY) throw new CliError("type the value on stdin (then Ctrl-D), or give --from-file / --from-env", ExitCode.Usage);
  const raw = await readStdin();
  return raw.at(-1) === 0x0a ? raw.subarray(0, raw.length - 1) : raw;
};

/** Seals the value to the core's key with a key made for this call: the bus never carries it in clear. */
const sealed = async (nc: NatsConnection, value: Uint8Array) => {
  const { publicKey } = await call(nc, "secret.key", {});
  const kp = createCurve();
  const box = kp.seal(value, publicKey);
  value.fill(0);
  return { sealed: Buffer.from(box).toString("base64"), sender: kp.getPublicKey() };
};

const describe = (r: SecretRow) =>
  `secret ${r.name} version ${r.version} (${r.fingerprint}); readers: ${r.readers.length > 0 ? r.readers.join(" ") : "(none)"}`;

/** `ganglion secret set|rotate|rm|list`: values go in sealed, never come out. */
export const register = (program: Command, ctx: CliContext) => {
  const secret = program
    .command("secret")
    .summary("store secrets plugins read by reference (secret.read:<name>); values are sealed, never shown")
    .description(
      "Secrets are stored sealed with the core's key (keys/secrets.xk in the data dir). A plugin granted secret.read:<name> asks for one and gets it sealed to its own key; every read is an event. Values are never printed, logged or stored in the event log.",
    );
  const write = (name: "set" | "rotate", summary: string) =>
    secret
      .command(name)
      .argument("<name>", "the secret's name (dotted lower-case tokens, e.g. openai.api-key)")
      .option("--from-file <file>", "the value is this file's content, byte for byte")
      .option("--from-env <var>", "the value is this environment variable's")
      .summary(summary)
      .action(async (n: string, o: Source, cmd: Command) => {
        const value = await readValue(o);
        const r = await ctx.withBus(cmd, async (nc) => call(nc, name === "set" ? "secret.set" : "secret.rotate", { name: n, ...(await sealed(nc, value)) }));
        ctx.output(cmd).message(`${name === "set" ? "stored" : "rotated"} ${describe(r)}`, r);
      });
  write("set", "create a secret from --from-file, --from-env or stdin");
  write("rotate", "give a secret a new value; plugins reading it are told at once");
  secret
    .command("rm")
    .argument("<name>")
    .summary("remove a secret (its sealed value is purged; its events stay)")
    .action(async (n: string, _o: unknown, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => call(nc, "secret.remove", { name: n }));
      ctx.output(cmd).message(`removed secret ${r.name} (was version ${r.version})`, r);
    });
  secret
    .command("list")
    .summary("secrets: versions, fingerprints, who may read them, last reads (never values)")
    .action(async (_o: unknown, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) => call(nc, "secret.list", {}));
      ctx.output(cmd).table(rows, [
        { header: "secret", value: (r) => r.name },
        { header: "version", value: (r) => r.version },
        { header: "status", value: (r) => (r.removed ? "removed" : "set") },
        { header: "fingerprint", value: (r) => r.fingerprint },
        { header: "readers", value: (r) => r.readers.join(" ") },
        {
          header: "last read",
          value: (r) =>
            Object.entries(r.lastRead)
              .map(([p, l]) => `${p}@v${l.version} ${l.at}`)
              .join(", "),
        },
      ]);
    });
};
