import type * as E from "fp-ts/lib/Either.js";

/**
 * A decider (Jérémie Chassaing's pattern, as Emmett writes it): the pure core of an aggregate.
 * `decide` answers the events a command causes, or a rejection as data; `evolve` folds one event
 * into the state and is total. Neither reads a clock, mints an id or does I/O: time, ids and keys
 * are inputs carried by the command.
 */
export type Decider<State, Command, Event, Rejection> = {
  readonly decide: (command: Command, state: State) => E.Either<Rejection, Event[]>;
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
};

/** Who, when and in which conversation: stamped on every event a command appends. */
export type CommandMeta = {
  readonly actor: string;
  readonly time: Date;
  readonly correlationId?: string;
  readonly causationId?: string;
};
