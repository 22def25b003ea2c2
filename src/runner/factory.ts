import type { Logger } from "pino";
import { dockerBackend } from "./docker.js";
import { processBackend } from "./process.js";
import type { BackendEvents, RunnerBackend } from "./ports.js";

/** Which backend runs workers, and where it keeps its state. */
export type RunnerConfig =
  | {
      readonly backend: "process";
      /** Per-instance private dirs (`<data dir>/runner`). */
      readonly stateDir: string;
      /** What a relative `run.cwd` is relative to (the directory `ganglion up` runs in). */
      readonly baseDir: string;
      /** The NATS URL workers connect to. */
      readonly natsUrl: string;
      readonly logMaxBytes?: number;
    }
  | {
      readonly backend: "docker";
      readonly natsUrl: string;
      /** Docker socket (default `/var/run/docker.sock`). */
      readonly socketPath?: string;
      readonly logMaxBytes?: number;
    };

export const RUNNER_BACKENDS = ["process", "docker"] as const;

/** The backend a configuration names. */
export const runnerBackend = (config: RunnerConfig, log: Logger, events: BackendEvents): RunnerBackend => {
  switch (config.backend) {
    case "process":
      return processBackend({
        stateDir: config.stateDir,
        baseDir: config.baseDir,
        log,
        events,
        ...(config.logMaxBytes !== undefined ? { logMaxBytes: config.logMaxBytes } : {}),
      });
    case "docker":
      return dockerBackend({
        log,
        events,
        ...(config.socketPath ? { socketPath: config.socketPath } : {}),
        ...(config.logMaxBytes ? { logMaxBytes: config.logMaxBytes } : {}),
      });
  }
};
