/**
 * The `default:` of a `switch` over a closed union of events (`default: return assertNever(e)`):
 * once every type of the union has its `case`, `e` is `never` there, so a type added to the union
 * fails the build in every fold that does not handle it yet. Unreachable at run time (the codecs
 * admit only known types); if it is reached anyway, it says what slipped through. It sits in the
 * floor so that every layer may use it.
 */
export const assertNever = (x: never, what = "event"): never => {
  throw new Error(`unhandled ${what}: ${JSON.stringify((x as { type?: unknown } | null)?.type ?? x)}`);
};
