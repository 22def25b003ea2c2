import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { writeSecret } from "../../auth/authority.js";
import { serviceClient } from "../../contract/client.js";
import { tlsConnectOption } from "../../contract/tls.js";
import type { ClientTls } from "../../contract/tls.js";
import type { RunningBus } from "../../host/main.js";
import type { Logger } from "../../log.js";
import { CliError, ExitCode } from "../errors.js";

/**
 * `ganglion up --example`: the example plugin of this checkout (examples/ts-worker, `wordcount`)
 * installed with its capabilities granted, credentials minted into `<data-dir>/creds/`, and its
 * worker run as a child process, so a first look at the console has something to try. The worker
 * is TypeScript run through tsx (a dev dependency): this needs a clone with `npm install` done.
 */

export const EXAMPLE_PLUGIN = "wordcount";
export const EXAMPLE_TASK_TYPE = "text.wordcount";
const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));
const exampleDir = join(packageRoot, "examples", "ts-worker");

export type RunningExample = { readonly worker: ChildProcess; readonly stop: () => Promise<void> };

export const startExample = async (opts: {
  url: string;
  adminCreds: string;
  dataDir: string;
  tls?: ClientTls | undefined;
  log: Logger;
}): Promise<RunningExample> => {
  let manifestText: string;
  try {
    manifestText = await readFile(join(exampleDir, "manifest.yaml"), "utf8");
  } catch {
    throw new CliError(`--example needs a clone of the repository: ${exampleDir} is missing.`, ExitCode.Setup);
  }
  const nc = await connect({
    servers: opts.url,
    authenticator: credsAuthenticator(new TextEncoder().encode(await readFile(opts.adminCreds, "utf8"))),
    ...tlsConnectOption(opts.tls),
    name: "ganglion-example",
  });
  const credsPath = join(opts.dataDir, "creds", `${EXAMPLE_PLUGIN}.creds`);
  try {
    const client = serviceClient(nc, { actor: "operator:example" });
    const installed = await client.call("plugin.install", { manifestText, grant: "all" });
    if (E.isLeft(installed)) throw new CliError(`--example: installing ${EXAMPLE_PLUGIN} failed: ${installed.left.message}`, ExitCode.Failure);
    if (installed.right.plugin.status === "disabled") await client.call("plugin.enable", { pluginId: EXAMPLE_PLUGIN });
    const approved = await client.call("plugin.approve", { pluginId: EXAMPLE_PLUGIN, capabilities: "all" });
    if (E.isLeft(approved)) throw new CliError(`--example: approving ${EXAMPLE_PLUGIN} failed: ${approved.left.message}`, ExitCode.Failure);
    const creds = await client.call("plugin.creds", { pluginId: EXAMPLE_PLUGIN });
    if (E.isLeft(creds)) throw new CliError(`--example: minting credentials failed: ${creds.left.message}`, ExitCode.Failure);
    await writeSecret(credsPath, creds.right.creds);
  } finally {
    await nc.close();
  }
  const worker = spawn(process.execPath, ["--import", "tsx", join(exampleDir, "worker.ts")], {
    cwd: packageRoot,
    env: {
      ...process.env,
      WORDCOUNT_CREDS: credsPath,
      NATS_URL: opts.url,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  worker.once("exit", (code, signal) => {
    if (!stopping) opts.log.warn({ code, signal }, "the example worker exited");
  });
  let stopping = false;
  const exited = new Promise<void>((r) => worker.once("exit", () => r()));
  return {
    worker,
    stop: async () => {
      stopping = true;
      if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    },
  };
};

/** `bus`, whose stop first stops the example worker. */
export const withExample = (bus: RunningBus, example: RunningExample | undefined): RunningBus =>
  example
    ? {
        url: bus.url,
        ended: bus.ended,
        stop: async () => {
          await example.stop();
          await bus.stop();
        },
      }
    : bus;
