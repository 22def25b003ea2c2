import { InvalidArgumentError } from "commander";
import type { Command } from "commander";
import { DURATION_HINT, parseDuration } from "../contract/duration.js";
import { DEFAULT_TASK_RETENTION } from "../projections/taskRetention.js";
import type { TaskRetention } from "../projections/taskRetention.js";

/** commander parser for a TCP port: 0–65535 (0 = any free port). */
export const parsePort = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError("must be a port number from 0 to 65535 (0 picks a free port).");
  return n;
};

/** commander parser for a positive integer. */
export const parsePositiveInt = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new InvalidArgumentError("must be a whole number of 1 or more.");
  return n;
};

// commander turns a parser's null into "": "no limit" is Infinity until `taskRetentionOf`.
const noLimit = (n: number | undefined) => (n === Infinity ? null : n);

/** `--keep-finished-tasks`: a whole number of 0 or more, or `all` (no cap: Infinity). */
export const parseKeepCount = (v: string): number => {
  if (v === "all") return Infinity;
  const n = Number(v);
  if (!/^\d{1,15}$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number of 0 or more, or "all".');
  return n;
};

/** `--keep-finished-for`: a duration (`7d`, `12h`), or `forever` (no age limit: Infinity). */
export const parseKeepFor = (v: string): number => {
  if (v === "forever") return Infinity;
  const ms = parseDuration(v);
  if (ms === undefined) throw new InvalidArgumentError(`must be ${DURATION_HINT}, or "forever".`);
  return ms;
};

/** The tasks view's retention from the two options (undefined: neither given, the core's default). */
export const taskRetentionOf = (o: { keepFinishedTasks?: number; keepFinishedFor?: number }): TaskRetention | undefined =>
  o.keepFinishedTasks === undefined && o.keepFinishedFor === undefined
    ? undefined
    : {
        keepFinished: o.keepFinishedTasks === undefined ? DEFAULT_TASK_RETENTION.keepFinished : noLimit(o.keepFinishedTasks)!,
        maxAgeMs: o.keepFinishedFor === undefined ? DEFAULT_TASK_RETENTION.maxAgeMs : noLimit(o.keepFinishedFor)!,
      };

/** Adds `--keep-finished-tasks` and `--keep-finished-for` (`ganglion up`, `ganglion serve`). */
export const retentionOptions = (c: Command): Command =>
  c
    .option(
      "--keep-finished-tasks <n>",
      'rows of completed and cancelled tasks the tasks view keeps, the most recently finished ("all": no cap; default 100000; history stays in the log)',
      parseKeepCount,
    )
    .option(
      "--keep-finished-for <duration>",
      'how long the tasks view keeps a completed or cancelled task\'s row ("forever": no limit; default 7d)',
      parseKeepFor,
    );
