import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "../contract/decodeErrors.js";

/**
 * A nats CLI context (`nats context save NAME --server URL --creds FILE`): the JSON file
 * `~/.config/nats/context/<name>.json` (`$XDG_CONFIG_HOME/nats/context/` when set). The client
 * reads what it needs of it: the servers, how to authenticate (a credentials file, an nkey seed
 * file, user and password, a token: `contextAuth.ts`) and the inbox prefix; other fields are
 * ignored. (The CLI has its own reader in src/cli; nothing outside the CLI may import it.)
 */
export const NatsContext = t.partial({
  url: t.string,
  creds: t.string,
  nkey: t.string,
  user: t.string,
  password: t.string,
  token: t.string,
  inbox_prefix: t.string,
  description: t.string,
});
export type NatsContext = t.TypeOf<typeof NatsContext>;

export class ContextError extends Error {
  override name = "ContextError";
}

const CONTEXT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export const contextDir = (env: NodeJS.ProcessEnv = process.env) => join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "nats", "context");

/** Reads context `name`; a missing file, bad JSON or a field of the wrong type is a `ContextError` naming it. */
export const readNatsContext = async (name: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsContext & { path: string }> => {
  if (!CONTEXT_NAME.test(name) || name.includes("..")) throw new ContextError(`context name ${JSON.stringify(name)} is not valid`);
  const path = join(contextDir(env), `${name}.json`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ContextError(`cannot read nats context ${name} (${path}): ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ContextError(`nats context ${path} is not JSON: ${(err as Error).message}`);
  }
  const d = NatsContext.decode(raw);
  if (E.isLeft(d)) throw new ContextError(`nats context ${path}: ${reportErrors(d.left).join("; ")}`);
  const home = (p: string | undefined) => (p?.startsWith("~/") ? join(homedir(), p.slice(2)) : p);
  const creds = home(d.right.creds);
  const nkey = home(d.right.nkey);
  return { ...d.right, ...(creds ? { creds } : {}), ...(nkey ? { nkey } : {}), path };
};
