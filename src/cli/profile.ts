import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "../contract/decodeErrors.js";
import { CONTEXT_NAME, NatsContextFile } from "../contract/natsContext.js";
import { DEFAULT_DATA_DIR } from "../config.js";
import { CliError, ExitCode } from "./errors.js";

/**
 * The home directory as the nats CLI finds it: the user's entry in the password database (Go's
 * `user.Current().HomeDir`), not `$HOME`, which differs under sudo, in some containers and in CI;
 * `$HOME` only when there is no such entry.
 */
export const natsHome = (): string => {
  try {
    const h = userInfo().homedir;
    if (h) return h;
  } catch {
    /* no password database entry */
  }
  return homedir();
};

/** Where the nats CLI keeps contexts: `$XDG_CONFIG_HOME/nats/context`, default `<home>/.config/nats/context`. */
export const natsContextDir = (xdgConfigHome: string | undefined): string => join(xdgConfigHome ?? join(natsHome(), ".config"), "nats", "context");

/** Largest context file read. */
const MAX_CONTEXT_BYTES = 64 * 1024;

/** Reads and decodes the nats CLI context `name`; a missing or bad one is a usage error naming the file. */
export const readNatsContext = (name: string, xdgConfigHome: string | undefined, source: string): NatsContextFile & { file: string } => {
  if (!CONTEXT_NAME.test(name)) throw new CliError(`${source} ${JSON.stringify(name)}: not a context name (letters, digits, '.', '-', '_')`, ExitCode.Usage);
  const file = join(natsContextDir(xdgConfigHome), `${name}.json`);
  let raw: unknown;
  try {
    if (statSync(file).size > MAX_CONTEXT_BYTES) throw new Error(`over ${MAX_CONTEXT_BYTES} bytes`);
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "there is no such file" : (err as Error).message;
    throw new CliError(`nats context "${name}" (from ${source}): cannot read ${file}: ${why}. List them with \`nats context ls\`.`, ExitCode.Usage, {
      paths: [file],
    });
  }
  const d = NatsContextFile.decode(raw);
  if (E.isLeft(d)) {
    throw new CliError(`nats context "${name}" (${file}) is not usable: ${reportErrors(d.left).join("; ")}`, ExitCode.Usage, { paths: [file] });
  }
  const base = dirname(file);
  // Paths in a context are the user's; a relative one is taken from the context's directory.
  const abs = (p: string | undefined) => (p ? resolve(base, p.startsWith("~/") ? join(natsHome(), p.slice(2)) : p) : undefined);
  const c = d.right;
  return {
    ...c,
    file,
    ...(c.creds ? { creds: abs(c.creds)! } : {}),
    ...(c.nkey ? { nkey: abs(c.nkey)! } : {}),
    ...(c.ca ? { ca: abs(c.ca)! } : {}),
    ...(c.cert ? { cert: abs(c.cert)! } : {}),
    ...(c.key ? { key: abs(c.key)! } : {}),
  };
};

/**
 * The data dir when neither `--data-dir` nor GANGLION_DATA_DIR says: like git, the nearest
 * `.ganglion` directory in the current directory or one of its parents, so `cd examples &&
 * ganglion plugins` finds the installation of the checkout; `./.ganglion` when there is none.
 */
export const findDataDir = (start: string = process.cwd()): string => {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, ".ganglion");
    try {
      if (existsSync(candidate) && statSync(candidate).isDirectory()) return dir === resolve(start) ? DEFAULT_DATA_DIR : candidate;
    } catch {
      /* unreadable: keep walking */
    }
    const up = dirname(dir);
    if (up === dir) return DEFAULT_DATA_DIR;
    dir = up;
  }
};
