import * as t from "io-ts";
import { TaskStatus } from "./responses.js";
import { Cidr } from "./manifest.js";
import { APP_ID, DOTTED } from "./subjects.js";

/**
 * The wire of applications (subjects.md, "Applications"): what an application's client sends on
 * `app.submit.<type>` and `app.call.<verb>` in its own account, and what the core publishes on
 * `appev.<app>.<taskId>`. Replies have the service's shape (`Reply`: `{ok, result}` or `{ok: false,
 * error}`); each `result` decodes with the codec named here.
 */

/** A string of at most `max` characters (the same rule as the service's free text). */
const BoundedText = (max: number, name = `Text(${max})`) => t.refinement(t.string, (s) => s.length <= max, name);

/** Longest idempotency key an application may send (it is recorded in the log). */
export const MAX_IDEMPOTENCY_KEY = 256;
/** Longest wait a request may ask for; the client's request timeout must exceed it. */
export const MAX_APP_WAIT_MS = 60_000;

const IdempotencyKey = t.refinement(BoundedText(MAX_IDEMPOTENCY_KEY, "IdempotencyKey"), (s) => s.length > 0, "IdempotencyKey");
const WaitMs = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0 && n <= MAX_APP_WAIT_MS, `an integer in 0..${MAX_APP_WAIT_MS}`);
const PositiveMs = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, "a whole number of milliseconds above 0");
const TaskIdField = t.type({ taskId: t.string });

/** `app.submit.<type>`: the task type is the subject's, the application the import's. */
export const AppSubmitRequest = t.intersection([
  t.type({ params: t.unknown }),
  t.partial({
    /** The provider, when more than one provides the type. */
    pluginId: t.string,
    /** The same key answers the same task, however often it is sent (recorded on `task.submitted`). */
    idempotencyKey: IdempotencyKey,
    /** The whole task must end within this (never later than the provider's own deadline). */
    deadlineMs: PositiveMs,
    /** Wait up to this long for the task to end; the reply is then the task. */
    waitMs: WaitMs,
  }),
]);
export type AppSubmitRequest = t.TypeOf<typeof AppSubmitRequest>;

/** The answer to a submission (`existing`: the idempotency key named a task submitted before). */
export const AppSubmitted = t.type({ taskId: t.string, pluginId: t.string, existing: t.boolean });
export type AppSubmitted = t.TypeOf<typeof AppSubmitted>;

export const AppGetRequest = t.intersection([TaskIdField, t.partial({ waitMs: WaitMs })]);
export const AppCancelRequest = t.intersection([TaskIdField, t.partial({ reason: BoundedText(1_000, "Reason") })]);
export const AppListRequest = t.partial({
  status: TaskStatus,
  taskType: t.refinement(t.string, (s) => DOTTED.test(s), "a task type"),
  limit: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 10_000, "an integer in 1..10000"),
});
export type AppListRequest = t.TypeOf<typeof AppListRequest>;

/** `app.call.info`: who the core says the caller is, and what it may submit. */
export const AppInfo = t.type({ appId: t.string, grants: t.array(t.string) });
export type AppInfo = t.TypeOf<typeof AppInfo>;

/**
 * One event of one of the application's tasks, as published on `appev.<app>.<taskId>` (at most
 * once per publisher). `revision`: the event's revision in the task's stream (from 0); every core
 * replica publishes the feed, so a client sees each event once per replica and drops repeats by
 * `taskId` + `revision`; a revision past the next one tells the client it missed an event.
 */
export const TaskChange = t.intersection([t.type({ taskId: t.string, type: t.string, data: t.unknown, at: t.string }), t.partial({ revision: t.number })]);
export type TaskChange = t.TypeOf<typeof TaskChange>;

// ---- operators' side: the `app.*` endpoints of the service -----------------------------------

/** `task.submit:<type>`, or `pipeline.run:<pipeline name>`: the capabilities an application may hold. */
export const APP_CAPABILITY = /^(task\.submit:[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*|pipeline\.run:[a-z][a-z0-9-]{0,63})$/;
export const AppCapability = t.refinement(t.string, (s) => APP_CAPABILITY.test(s) && s.length <= 200, "task.submit:<task type> or pipeline.run:<pipeline>");

/** `app.pipeline.<name>`: start a run of a pipeline the application is granted `pipeline.run:<name>`. */
export const AppRunRequest = t.intersection([t.type({ params: t.unknown }), t.partial({ waitMs: WaitMs })]);
/** `app.call.run`: one of the application's own runs. */
export const AppRunGetRequest = t.intersection([
  t.type({ runId: t.refinement(t.string, (s) => /^[A-Za-z0-9]{1,64}$/.test(s), "a run id") }),
  t.partial({ waitMs: WaitMs }),
]);
export const AppId = t.refinement(t.string, (s) => APP_ID.test(s), "an application id (lower-case letters, digits, '-', at most 30)");

/** `allowFrom`: the networks (CIDRs) the minted credentials may connect from (their user JWT's `src`); at most 32. */
export const AllowFrom = t.refinement(t.array(Cidr), (a) => a.length <= 32, "at most 32 networks");
export const AppAddRequest = t.intersection([t.type({ appId: AppId, grants: t.array(AppCapability) }), t.partial({ ttl: t.string, allowFrom: AllowFrom })]);
export const AppGrantsRequest = t.intersection([t.type({ appId: AppId, capabilities: t.array(AppCapability) }), t.partial({ reason: BoundedText(1_000) })]);
export const AppIdRequest = t.intersection([t.type({ appId: AppId }), t.partial({ reason: BoundedText(1_000) })]);
export const AppCredsRequest = t.intersection([t.type({ appId: AppId }), t.partial({ ttl: t.string, allowFrom: AllowFrom })]);

export const AppView = t.type({
  appId: t.string,
  status: t.keyof({ active: null, removed: null }),
  grants: t.array(t.string),
  liveCredentials: t.array(t.string),
  account: t.string,
});
export type AppView = t.TypeOf<typeof AppView>;
export const AppCredentials = t.type({ appId: t.string, creds: t.string, publicKey: t.string, expiresAt: t.union([t.string, t.null]) });
export type AppCredentials = t.TypeOf<typeof AppCredentials>;
