import { constants } from "node:os";
import Docker from "dockerode";
import type { Logger } from "pino";
import { workerName } from "./ports.js";
import type { BackendEvents, InstanceLaunch, InstanceStatus, LogChunk, LogsOptions, RunnerBackend } from "./ports.js";

/**
 * The `docker` backend, over the Docker Engine API (dockerode). One container per instance, named
 * `ganglion-<instance>` and labelled with its plugin, instance and version:
 *   - the same plugin version restarts its existing container (`start`), a new version replaces it;
 *   - the credentials are copied into the stopped container as `/run/ganglion/creds` (0600, owner
 *     root unless the image says otherwise) before it starts, never in its env or command line;
 *   - `run.env` with a resolved secret is refused: the engine keeps a container's env in its
 *     config on disk (`docker inspect` shows it);
 *   - logs use the engine's json-file driver capped at `logMaxBytes` × 2 files;
 *   - the network is the host's (`NetworkMode: host`), so the worker reaches the same NATS URL.
 * Exits are watched with the engine's `wait`; a code above 128 is reported as its signal.
 */
export type DockerBackendOptions = {
  readonly log: Logger;
  readonly events: BackendEvents;
  readonly socketPath?: string;
  readonly logMaxBytes?: number;
  /** Marks the resolved env values that came from secrets (the backend refuses them). */
  readonly docker?: Docker;
};

const LABEL = "dev.ganglion.runner";
const containerName = (instance: string) => `ganglion-${instance}`;

/** A one-file POSIX tar (ustar), for `putArchive`. */
export const tarOneFile = (name: string, content: Buffer, mode: number): Buffer => {
  const header = Buffer.alloc(512, 0);
  const put = (s: string, off: number, len: number) => header.write(s.slice(0, len), off, len, "ascii");
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(content.length, 12), 124, 12);
  put(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  put("        ", 148, 8);
  put("0", 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const b of header) sum += b;
  put(octal(sum, 7) + " ", 148, 8);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512, 0);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024, 0)]);
};

const signalOf = (code: number): string | null => {
  if (code <= 128) return null;
  const hit = Object.entries(constants.signals).find(([, n]) => n === code - 128);
  return hit ? hit[0] : null;
};

export const dockerBackend = (opts: DockerBackendOptions): RunnerBackend => {
  const docker = opts.docker ?? new Docker({ socketPath: opts.socketPath ?? "/var/run/docker.sock" });
  const running = new Map<string, { status: InstanceStatus; ended: Promise<void> }>();
  const key = (p: string, i: string) => `${p}/${i}`;

  const watch = (status: InstanceStatus, id: string) => {
    const ended = docker
      .getContainer(id)
      .wait()
      .then((r: { StatusCode?: number }) => ({ code: typeof r.StatusCode === "number" ? r.StatusCode : null }))
      .catch(() => ({ code: null as number | null }))
      .then(({ code }) => {
        running.delete(key(status.pluginId, status.instance));
        opts.events.onExit(status.pluginId, status.instance, {
          code: code !== null && code > 128 ? null : code,
          signal: code === null ? null : signalOf(code),
        });
      });
    running.set(key(status.pluginId, status.instance), { status, ended });
  };

  const start = async (launch: InstanceLaunch): Promise<InstanceStatus> => {
    const run = launch.run;
    if (!run.image) throw new Error(`plugin ${launch.pluginId}: the docker backend needs run.image`);
    const secretNames = Object.entries(run.env)
      .filter(([, v]) => v.startsWith("secret://"))
      .map(([k]) => k);
    if (secretNames.length > 0) {
      throw new Error(
        `plugin ${launch.pluginId}: the docker backend does not pass secrets (${secretNames.join(", ")}): the engine stores a container's env on disk; use the process backend`,
      );
    }
    const name = containerName(launch.instance);
    let container = docker.getContainer(name);
    const existing = await container.inspect().catch(() => undefined);
    if (existing && existing.Config.Labels?.[`${LABEL}.version`] !== launch.version) {
      await container.remove({ force: true });
    }
    if (!existing || existing.Config.Labels?.[`${LABEL}.version`] !== launch.version) {
      container = await docker.createContainer({
        name,
        Image: run.image,
        ...(run.command !== "" ? { Cmd: [run.command, ...run.args] } : {}),
        Env: Object.entries({
          ...launch.env,
          GANGLION_CREDS: "/run/ganglion/creds",
          NATS_URL: launch.natsUrl,
          WORKER_INSTANCE: workerName(launch.instance, new Date()),
          GANGLION_PLUGIN: launch.pluginId,
        }).map(([k, v]) => `${k}=${v}`),
        Labels: { [LABEL]: "1", [`${LABEL}.plugin`]: launch.pluginId, [`${LABEL}.instance`]: launch.instance, [`${LABEL}.version`]: launch.version },
        HostConfig: {
          NetworkMode: "host",
          LogConfig: { Type: "json-file", Config: { "max-size": String(opts.logMaxBytes ?? 1024 * 1024), "max-file": "2" } },
          RestartPolicy: { Name: "no" },
        },
      });
    }
    // Fresh credentials at every start, restart included (the previous ones may have been revoked).
    await container.putArchive(tarOneFile("run/ganglion/creds", Buffer.from(launch.creds), 0o600), { path: "/" });
    await container.start();
    const info = await container.inspect();
    const status: InstanceStatus = {
      pluginId: launch.pluginId,
      instance: launch.instance,
      version: launch.version,
      ref: info.Id.slice(0, 12),
      worker: info.Config.Env.find((e) => e.startsWith("WORKER_INSTANCE="))?.slice("WORKER_INSTANCE=".length) ?? launch.instance,
      startedAt: info.State.StartedAt,
      running: true,
      adopted: false,
    };
    watch(status, info.Id);
    return status;
  };

  const stop = async (pluginId: string, instance: string, graceMs: number) => {
    const r = running.get(key(pluginId, instance));
    if (!r) return;
    await docker
      .getContainer(containerName(instance))
      .stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) })
      .catch(() => undefined);
    await r.ended;
  };

  const logs = async (_pluginId: string, instance: string, o: LogsOptions): Promise<LogChunk> => {
    const since = o.from ?? 0;
    const buf = (await docker
      .getContainer(containerName(instance))
      .logs({ stdout: true, stderr: true, follow: false, ...(since > 0 ? { since } : { tail: 200 }) })
      .catch(() => Buffer.alloc(0))) as Buffer;
    // Without a TTY the engine frames each chunk: 8-byte header (stream, 0, 0, 0, size BE32).
    const parts: Buffer[] = [];
    for (let off = 0; off + 8 <= buf.length;) {
      const size = buf.readUInt32BE(off + 4);
      parts.push(buf.subarray(off + 8, off + 8 + size));
      off += 8 + size;
    }
    const text = Buffer.concat(parts).toString("utf8");
    return { text: text.slice(-o.maxBytes), next: Math.floor(Date.now() / 1000) };
  };

  const adopt = async (): Promise<InstanceStatus[]> => {
    const list = await docker.listContainers({ filters: { label: [`${LABEL}=1`] } });
    return list.map((c) => {
      const l = c.Labels;
      const status: InstanceStatus = {
        pluginId: l[`${LABEL}.plugin`] ?? "",
        instance: l[`${LABEL}.instance`] ?? "",
        version: l[`${LABEL}.version`] ?? "unknown",
        ref: c.Id.slice(0, 12),
        worker: l[`${LABEL}.instance`] ?? "",
        startedAt: new Date(c.Created * 1000).toISOString(),
        running: true,
        adopted: true,
      };
      watch(status, c.Id);
      return status;
    });
  };

  return {
    name: "docker",
    start,
    stop,
    status: (pluginId) => [...running.values()].map((r) => r.status).filter((s) => pluginId === undefined || s.pluginId === pluginId),
    logs,
    health: async () => {
      try {
        await docker.ping();
        return { ok: true, detail: `docker engine at ${opts.socketPath ?? "/var/run/docker.sock"}` };
      } catch (err) {
        return { ok: false, detail: `no docker engine answers at ${opts.socketPath ?? "/var/run/docker.sock"}: ${(err as Error).message}` };
      }
    },
    adopt,
    close: async () => undefined,
  };
};
