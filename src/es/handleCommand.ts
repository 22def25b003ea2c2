import * as E from "fp-ts/lib/Either.js";
import { WrongExpectedVersionError } from "../store/types.js";
import type { EventStore, StreamState } from "../store/types.js";
import type { CommandMeta, Decider } from "./decider.js";

/**
 * The one retry policy of every command: an append that lost a race (another core replica, another
 * operator) is decided again on a fresh read, up to this many times in all.
 */
export const MAX_COMMAND_ATTEMPTS = 10;

/** A stream's state as a command saw it, and the revision its append expects. */
export type Loaded<State> = { readonly state: State; readonly revision: bigint | "no_stream" };

export type Handled<State, Event> = {
  /** The events appended (empty: the command changed nothing). */
  readonly events: Event[];
  readonly before: State;
  readonly state: State;
  /** The stream's revision after the command (-1: still no stream). */
  readonly revision: bigint;
};

/** What a command handler may do around the append; each sees the decision. */
export type Hooks<State, Event, Rejection> = {
  /** Runs before the append (e.g. revoke before the log says so); a Left aborts without appending. */
  readonly beforeAppend?: (before: State, events: Event[], after: State) => Promise<E.Either<Rejection, void>>;
  /** Runs after a successful append (side effects that must follow the log). */
  readonly afterAppend?: (before: State, events: Event[], after: State) => Promise<void>;
};

/** Stamps a command's metadata on the events it appends: the one place that does. */
export const stamp = <Event>(events: Event[], meta: CommandMeta) =>
  events.map((e) => ({
    ...e,
    metadata: {
      actor: meta.actor,
      time: meta.time.toISOString(),
      ...(meta.correlationId ? { correlationId: meta.correlationId } : {}),
      ...(meta.causationId ? { causationId: meta.causationId } : {}),
    },
  }));

/**
 * Load → decide → append with the expected revision → retry on conflict, over one event store
 * and one decider (Emmett's `handleCommand`, written for our store). `command` may be a function
 * of the state, for commands that need it to be built (credentials minted for the plugin's
 * grants). `cache` lets a caller keep the states it appended and skip the read next time; a
 * cached state is trusted for one try only: a conflict or a rejection reads the stream again.
 */
export const commandHandler = <State, Command, Event extends { type: string; data: unknown }, Rejection>(
  store: EventStore<Event>,
  decider: Decider<State, Command, Event, Rejection>,
  opts: {
    readonly streamName: (id: string) => string;
    /** Events of the stream the decider does not fold (another context's): skipped when loading. */
    readonly accepts?: (e: Event) => boolean;
    readonly cache?: { get: (id: string) => Loaded<State> | undefined; set: (id: string, l: Loaded<State>) => void; drop: (id: string) => void };
  },
) => {
  const load = async (id: string): Promise<Loaded<State>> => {
    let state = decider.initialState();
    let revision: bigint | "no_stream" = "no_stream";
    for await (const e of store.readStream(opts.streamName(id))) {
      revision = e.revision;
      if (!opts.accepts || opts.accepts(e)) state = decider.evolve(state, e);
    }
    return { state, revision };
  };

  const handle = async <HookRejection = never>(
    id: string,
    command: Command | ((state: State) => Promise<Command> | Command),
    meta: CommandMeta,
    hooks: Hooks<State, Event, HookRejection> = {},
  ): Promise<E.Either<Rejection | HookRejection, Handled<State, Event>>> => {
    for (let attempt = 1; ; attempt++) {
      const cached = opts.cache?.get(id);
      const { state, revision } = cached ?? (await load(id));
      const cmd = typeof command === "function" ? await (command as (s: State) => Promise<Command> | Command)(state) : command;
      const decided = decider.decide(cmd, state);
      if (E.isLeft(decided)) {
        if (cached) {
          opts.cache?.drop(id);
          continue;
        }
        return decided;
      }
      const events = decided.right;
      const after = events.reduce(decider.evolve, state);
      const rev = revision === "no_stream" ? -1n : revision;
      if (events.length === 0) return E.right({ events, before: state, state, revision: rev });
      if (hooks.beforeAppend) {
        const go = await hooks.beforeAppend(state, events, after);
        if (E.isLeft(go)) return go;
      }
      let next: bigint;
      try {
        const streamState: StreamState = revision;
        next = (await store.appendToStream(opts.streamName(id), stamp(events, meta), { streamState })).nextExpectedRevision;
      } catch (err) {
        opts.cache?.drop(id);
        if (err instanceof WrongExpectedVersionError && attempt < MAX_COMMAND_ATTEMPTS) continue;
        throw err;
      }
      opts.cache?.set(id, { state: after, revision: next });
      await hooks.afterAppend?.(state, events, after);
      return E.right({ events, before: state, state: after, revision: next });
    }
  };

  return { load, handle };
};
