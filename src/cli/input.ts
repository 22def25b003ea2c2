import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { CliError, ExitCode } from "./errors.js";

/** Largest `--data` document read from a file or stdin: what one NATS message can carry, with room for the request around it. */
export const MAX_DATA_BYTES = 1024 * 1024;

/** Reads all of stdin, refusing more than `max` bytes (stops reading past it). */
export const readStdin = async (stdin: NodeJS.ReadableStream = process.stdin, max = MAX_DATA_BYTES): Promise<string> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stdin) {
    const b = typeof c === "string" ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    if (size > max) throw new CliError(`--data -: stdin is over ${max} bytes`, ExitCode.Usage, { paths: ["--data"] });
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
};

/**
 * `--data` as the user wrote it: inline JSON, `@FILE` (a file's contents, like curl), or `-`
 * (stdin). Parsed as JSON; a big document travels as a file instead of on the command line
 * (where a 200 KB argument fails with "Argument list too long").
 */
export const readData = async (v: string, stdin?: NodeJS.ReadableStream): Promise<unknown> => {
  let text = v;
  let from = "--data";
  if (v === "-") {
    text = await readStdin(stdin);
    from = "--data - (stdin)";
  } else if (v.startsWith("@")) {
    const file = resolve(v.slice(1));
    try {
      const b = await readFile(file);
      if (b.length > MAX_DATA_BYTES)
        throw new CliError(`--data ${v}: the file is ${b.length} bytes; the limit is ${MAX_DATA_BYTES}`, ExitCode.Usage, { paths: ["--data"] });
      text = b.toString("utf8");
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(`--data ${v}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.Usage, {
        paths: ["--data"],
      });
    }
    from = `--data ${v}`;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${from} is not JSON: ${(err as Error).message}`, ExitCode.Usage, { paths: ["--data"] });
  }
};
