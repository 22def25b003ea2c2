/**
 * The runner's ports: what a backend (`process`, `docker`) must do, and what the supervisor
 * (`supervisor.ts`) gives it. A backend only starts, stops and watches instances; restart
 * policy, credentials, events and plugin state are the supervisor's.
 */

/** A run section of a manifest, decoded (`src/contract/manifest.ts`, `run:`). */
export type RunSpec = {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly instances: number;
  readonly restart: {
    readonly mode: "always" | "on-failure" | "never";
    readonly backoff: readonly number[];
    readonly crashLoop: { readonly restarts: number; readonly window: number };
  };
  readonly stopGrace: number;
  readonly cwd?: string | undefined;
  readonly image?: string | undefined;
};

/** The name a worker reports for one start of a slot: a restart is a new instance to the heartbeat monitor. */
export const workerName = (slot: string, at: Date) => `${slot}-${at.getTime().toString(36)}`;

/** One instance to start: everything resolved (secrets included), nothing left for the backend to look up. */
export type InstanceLaunch = {
  readonly pluginId: string;
  /** A subject token, unique within the plugin (`<pluginId>-<n>`). */
  readonly instance: string;
  readonly version: string;
  readonly run: RunSpec;
  /** The plugin's `.creds` text: written to a 0600 file in the instance's private dir, never to argv or env. */
  readonly creds: string;
  /** The NATS URL the worker connects to. */
  readonly natsUrl: string;
  /** `run.env` with secret references resolved: kept in memory, never written to disk. */
  readonly env: Readonly<Record<string, string>>;
};

/** How an instance ended. `code` and `signal` are null when the backend cannot know (an adopted process). */
export type Exit = { readonly code: number | null; readonly signal: string | null };

/** One instance as a backend sees it. */
export type InstanceStatus = {
  readonly pluginId: string;
  readonly instance: string;
  readonly version: string;
  /** pid (`process`) or container id (`docker`). */
  readonly ref: string;
  /** The instance name the worker reports (WORKER_INSTANCE): the slot and its start time, new at every start. */
  readonly worker: string;
  readonly startedAt: string;
  readonly running: boolean;
  /** Found running at start-up and kept (its exit code will not be known). */
  readonly adopted: boolean;
};

/** What a backend tells its owner. */
export type BackendEvents = {
  /** An instance ended (on its own or because it was stopped). Called once per instance start. */
  readonly onExit: (pluginId: string, instance: string, exit: Exit) => void;
};

export type LogsOptions = {
  /** Byte offset into the instance's log (a previous answer's `next`), for `--follow`. */
  readonly from?: number;
  /** At most this many bytes (the tail when `from` is not given). */
  readonly maxBytes: number;
};
export type LogChunk = { readonly text: string; readonly next: number };

/**
 * A runner backend. `start` resolves once the instance runs (a process was spawned, a container
 * started); `stop` asks it to end (SIGTERM or the engine's stop) and forces it after `graceMs`,
 * resolving once it has ended. `adopt` is called once at start-up: it finds the instances a
 * previous core left running and reports them (the supervisor keeps or stops them).
 */
export type RunnerBackend = {
  readonly name: string;
  readonly start: (launch: InstanceLaunch) => Promise<InstanceStatus>;
  readonly stop: (pluginId: string, instance: string, graceMs: number) => Promise<void>;
  readonly status: (pluginId?: string) => InstanceStatus[];
  readonly logs: (pluginId: string, instance: string, opts: LogsOptions) => Promise<LogChunk>;
  /** Whether the backend can start anything (the docker daemon answers, the state dir is writable). */
  readonly health: () => Promise<{ ok: boolean; detail: string }>;
  readonly adopt: () => Promise<InstanceStatus[]>;
  /** Stops watching (does not stop instances). */
  readonly close: () => Promise<void>;
};

/**
 * Resolves `secret://name` for a plugin (the secrets work, `src/secrets/resolver.ts`, declares
 * the same interface). The runner refuses to start a plugin with secret references when none is
 * configured.
 */
export interface SecretResolver {
  resolve(name: string, forPlugin: string): Promise<{ value: string; version: number }>;
}
