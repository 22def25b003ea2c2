import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { resolve } from "node:path";
import { once } from "node:events";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import cliProgress from "cli-progress";
import * as E from "fp-ts/lib/Either.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../contract/endpoints.js";
import type { ArtifactRow } from "../../contract/artifacts.js";
import { artifactIdOf } from "../../contract/artifacts.js";
import { serviceClient } from "../../service/client.js";
import { openArtifactStore } from "../../artifacts/store.js";
import { operatorActor } from "../actor.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";

const call = async <N extends EndpointName>(nc: NatsConnection, endpoint: N, req: RequestOf<N>): Promise<ResponseOf<N>> => {
  const r = await serviceClient(nc, { actor: operatorActor() }).call(endpoint, req);
  if (E.isLeft(r)) throw new CliError(`${r.left.message} (${r.left.code})`, r.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure);
  return r.right;
};

const idOf = (ref: string) => {
  const id = artifactIdOf(ref);
  if (!id) throw new CliError(`${JSON.stringify(ref)} is not artifact://<sha256> or a sha256`, ExitCode.Usage);
  return id;
};

const human = (n: number) =>
  n >= 1 << 30
    ? `${(n / (1 << 30)).toFixed(1)} GiB`
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;

/**
 * Reads an artifact into `file` (through `<file>.part`, renamed once complete): chunk by chunk
 * from the bucket (the admin credentials are BUS's), each chunk checked against its SHA-256, the
 * whole against the id. A bar on stderr for large artifacts when stderr is a terminal.
 */
const download = async (nc: NatsConnection, id: string, file: string): Promise<ArtifactRow & { file: string }> => {
  const store = await openArtifactStore(nc);
  const meta = await store.meta(id, true);
  if (!meta) throw new CliError(`no artifact ${id}`, ExitCode.Failure);
  const part = `${file}.part`;
  const out = createWriteStream(part, { mode: 0o644 });
  const bar =
    process.stderr.isTTY && meta.size >= 8 * 1024 * 1024
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format: "artifact [{bar}] {percentage}% {done}/{size}", hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(meta.size, 0, { done: human(0), size: human(meta.size) });
  const whole = createHash("sha256");
  let done = 0;
  try {
    for (let i = 0, cursor = 0; i < meta.chunks; i++) {
      const c = await store.chunk(meta, i, cursor);
      cursor = c.next;
      whole.update(c.data);
      done += c.data.length;
      if (!out.write(c.data)) await once(out, "drain");
      bar?.update(done, { done: human(done) });
    }
    const got = whole.digest("hex");
    if (got !== id) throw new CliError(`artifact ${id}: the bytes read hash to ${got}; nothing written`, ExitCode.Failure);
    out.end();
    await once(out, "finish");
    await rename(part, file);
  } catch (err) {
    out.destroy();
    await rm(part, { force: true });
    throw err instanceof CliError ? err : new CliError((err as Error).message, ExitCode.Failure);
  } finally {
    bar?.stop();
  }
  const { nuid: _n, chunkSha256: _c, ...row } = meta;
  return { ...row, file };
};

/** `ganglion artifact get|ls|show|share|rm`: large task inputs and results, named by their SHA-256. */
export const register = (program: Command, ctx: CliContext) => {
  const artifact = program
    .command("artifact")
    .summary("large task inputs and results (artifact://<sha256>): fetch, list, share, remove")
    .description(
      'Artifacts live in the bus\'s object store, named by the SHA-256 of their bytes. Workers put and get them (ctx.artifacts); params and results carry artifact://<sha256> references. See subjects.md, "Artifacts".',
    );
  artifact
    .command("get")
    .argument("<ref>", "artifact://<sha256> (or the sha256)")
    .requiredOption("-o, --output <file>", "where to write the bytes")
    .summary("fetch an artifact into a file, every chunk checked (a progress bar on large ones)")
    .action(async (ref: string, o: { output: string }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => download(nc, idOf(ref), resolve(o.output)));
      ctx.output(cmd).message(`wrote ${human(r.size)} of ${r.ref} (${r.contentType}) to ${r.file}`, r);
    });
  artifact
    .command("ls")
    .option("--creator <actor>", "only those put by this actor (plugin:<id>)")
    .option("--limit <n>", "at most this many, newest first", (v) => Number(v))
    .summary("artifacts: size, content type, creator, expiry, who they are shared with")
    .action(async (o: { creator?: string; limit?: number }, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) =>
        call(nc, "artifact.list", { ...(o.creator ? { creator: o.creator } : {}), ...(o.limit ? { limit: o.limit } : {}) }),
      );
      ctx.output(cmd).table(rows, [
        { header: "artifact", value: (r) => r.ref },
        { header: "size", value: (r) => human(r.size) },
        { header: "type", value: (r) => r.contentType },
        { header: "creator", value: (r) => r.creator },
        { header: "created", value: (r) => r.createdAt },
        { header: "expires", value: (r) => r.expiresAt },
        { header: "shared with", value: (r) => r.sharedWith.join(" ") },
      ]);
    });
  artifact
    .command("share")
    .argument("<ref>")
    .argument("<plugin>", "the plugin that may read it from now on")
    .summary("let a plugin read an artifact (recorded as artifact.shared)")
    .action(async (ref: string, pluginId: string, _o: unknown, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => call(nc, "artifact.share", { id: idOf(ref), pluginId }));
      ctx.output(cmd).message(`${r.ref} is shared with ${r.sharedWith.join(" ")}`, r);
    });
  artifact
    .command("rm")
    .argument("<ref>")
    .option("--reason <text>", "recorded with the removal")
    .summary("remove an artifact (its bytes are purged; artifact.removed names you)")
    .action(async (ref: string, o: { reason?: string }, cmd: Command) => {
      const r = await ctx.withBus(cmd, (nc) => call(nc, "artifact.remove", { id: idOf(ref), ...(o.reason ? { reason: o.reason } : {}) }));
      ctx.output(cmd).message(`removed ${r.ref} (${human(r.size)})`, r);
    });
};
