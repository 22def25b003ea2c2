import type * as E from "fp-ts/lib/Either.js";
import type { Decider } from "./decider.js";

/**
 * Given / when / then for deciders (after Emmett's `DeciderSpecification`): `given(events)` folds
 * the history, `.when(command)` answers what `decide` says, `.state()` the folded state. Tests
 * assert on plain values, so a failure shows the events or the rejection in full.
 */
export const deciderSpec =
  <State, Command, Event, Rejection>(d: Decider<State, Command, Event, Rejection>) =>
  (history: readonly Event[]) => {
    const state = () => history.reduce(d.evolve, d.initialState());
    return {
      state,
      when: (command: Command): E.Either<Rejection, Event[]> => d.decide(command, state()),
      /** The state after the command's events (the history's if it was rejected). */
      then: (command: Command): State => {
        const r = d.decide(command, state());
        return r._tag === "Right" ? r.right.reduce(d.evolve, state()) : state();
      },
    };
  };
