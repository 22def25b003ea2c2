import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { natsDir } from "../embedded/installation.js";
import { portFree } from "../embedded/natsServer.js";

/** Where `up --port 0` remembers the port it got: `<dataDir>/nats/port`. */
export const rememberedPortPath = (dataDir: string) => join(natsDir(resolve(dataDir)), "port");

/**
 * The port `up --port 0` asks for: the one it got on an earlier start when it is still free (so
 * workers reconnect to the same URL and a nats CLI context stays valid), else 0 (any free port).
 * `note` says why the remembered one was not reused.
 */
export const stablePort = async (dataDir: string, host: string): Promise<{ port: number; note?: string }> => {
  let text: string;
  try {
    text = (await readFile(rememberedPortPath(dataDir), "utf8")).trim();
  } catch {
    return { port: 0 };
  }
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) return { port: 0, note: `ignoring ${rememberedPortPath(dataDir)}: not a port` };
  if (!(await portFree(host, port))) return { port: 0, note: `port ${port} of the earlier start is taken now; picking another free port` };
  return { port };
};

/** Records the port `up --port 0` got (written whole: a temp file renamed over it). */
export const rememberPort = async (dataDir: string, url: string): Promise<void> => {
  const port = new URL(url).port;
  if (!port) return;
  const file = rememberedPortPath(dataDir);
  await mkdir(natsDir(resolve(dataDir)), { recursive: true });
  await writeFile(`${file}.${process.pid}.tmp`, `${port}\n`);
  await rename(`${file}.${process.pid}.tmp`, file);
};
