/**
 * The `started` report of one attempt, sent only once its handler has run `delayMs` without
 * ending. A handler that ends sooner sends no `started`: its final report carries the delivery
 * count and the core records the start and the end in one commit. That is one report, one append
 * and one view write less per task, and the log still says who started the attempt and when.
 * A progress report sends the `started` first, so RESULTS keeps an attempt's reports in order.
 * `delayMs` 0 sends it at once (the core then hears about long tasks as early as possible).
 */
export const startedReport = (send: () => Promise<unknown>, delayMs: number) => {
  let sent: Promise<unknown> | undefined;
  const now = () => (sent ??= send());
  let timer: ReturnType<typeof setTimeout> | undefined = delayMs > 0 ? setTimeout(() => void now(), delayMs) : undefined;
  if (delayMs <= 0) void now();
  const cancel = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  return {
    /** Before any other report but the final one: the `started` report is stored first. */
    first: async (): Promise<void> => {
      cancel();
      await now();
    },
    /** Before the final report: whether a `started` went out (stored by now); if not, none will. */
    settle: async (): Promise<boolean> => {
      cancel();
      if (!sent) return false;
      await sent;
      return true;
    },
    /** The attempt ended without a final report (aborted, handed back): no `started` goes out after it. */
    cancel,
  };
};
