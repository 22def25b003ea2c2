import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const EXAMPLE = join(ROOT, "examples/ts-worker");
export const fixture = (name: string) => join(ROOT, "test/pipelines/fixtures", name);
export const exampleManifest = () => readFile(join(EXAMPLE, "manifest.yaml"), "utf8");

/** The example worker (text.echo, text.wordcount) as a process with its own credentials; resolves once it runs. */
export const spawnExampleWorker = async (o: { url: string; creds: string; dir: string; instance: string }) => {
  const credsFile = join(o.dir, `wordcount-${o.instance}.creds`);
  await writeFile(credsFile, o.creds, { mode: 0o600 });
  const child = spawn(process.execPath, ["--import", "tsx", join(EXAMPLE, "worker.ts")], {
    env: { ...process.env, WORDCOUNT_CREDS: credsFile, NATS_URL: o.url, WORKER_INSTANCE: o.instance },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (l) => l.includes("running") && resolve());
    void exited.then(() => reject(new Error(`the example worker exited:\n${err}`)));
  });
  return {
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
};
