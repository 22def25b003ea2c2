/** Task types with their params and results (`ganglion types` writes one): `Client<Tasks>` types `submit` by it. */
export type TaskMap = { readonly [taskType: string]: { readonly params: unknown; readonly result: unknown } };

export type SubmitOptions = {
  /** The provider, when more than one plugin provides the type. */
  readonly pluginId?: string;
  /**
   * The same key answers the same task, however often it is sent (recorded on `task.submitted`).
   * Without one the client makes one up per call, so that it can repeat a submission safely.
   */
  readonly idempotencyKey?: string;
  /** The task must end by then (a Date), or within this many ms of its submission. */
  readonly deadline?: Date | number;
  /** Wait up to this long for the task to end before answering (at most 60 s). */
  readonly waitMs?: number;
};
