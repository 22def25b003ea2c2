import type { Test } from "tap";
import type { Exit, InstanceLaunch, RunnerBackend, RunSpec } from "../../src/runner/ports.js";

/**
 * What every runner backend must do, run against a real one (`process` here, `docker` where a
 * daemon answers). `program(script)` makes the run spec of a worker that runs the shell `script`
 * (the backend's own way: a process, or a container of a small image).
 */
export const backendContract = async (
  t: Test,
  make: (onExit: (p: string, i: string, x: Exit) => void) => RunnerBackend,
  program: (script: string) => Pick<RunSpec, "command" | "args" | "image" | "cwd">,
) => {
  const exits: { p: string; i: string; x: Exit }[] = [];
  const backend = make((p, i, x) => exits.push({ p, i, x }));
  t.teardown(() => backend.close());
  const run = (script: string): RunSpec => ({
    ...program(script),
    env: { GREETING: "hello" },
    instances: 1,
    restart: { mode: "never", backoff: [], crashLoop: { restarts: 3, window: 60_000 } },
    stopGrace: 2000,
  });
  const launch = (instance: string, script: string): InstanceLaunch => ({
    pluginId: "contract",
    instance,
    version: "1.0.0",
    run: run(script),
    creds: "-----BEGIN NATS USER JWT-----\nnot-a-real-jwt\n------END NATS USER JWT------\n",
    natsUrl: "nats://127.0.0.1:1",
    env: { GREETING: "hello" },
  });
  const waitFor = async <A>(what: string, f: () => A | undefined | Promise<A | undefined>): Promise<A> => {
    for (let i = 0; i < 400; i++) {
      const v = await f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gave up waiting for ${what}`);
  };

  t.ok((await backend.health()).ok, "healthy");

  await t.test("start: it runs, with its env and a 0600 creds file; its output is in its logs", async (t) => {
    const s = await backend.start(
      launch("contract-0", 'echo "$GREETING from $WORKER_INSTANCE"; stat -c %a "$GANGLION_CREDS"; trap "exit 0" TERM; sleep 60 & wait'),
    );
    t.equal(s.running, true);
    t.ok(s.ref.length > 0, "a pid or container id");
    t.same(
      backend.status("contract").map((x) => x.instance),
      ["contract-0"],
    );
    const logs = await waitFor("its output", async () => {
      const l = await backend.logs("contract", "contract-0", { maxBytes: 4096 });
      return /600/.test(l.text) ? l : undefined;
    });
    t.match(logs.text, new RegExp(`hello from ${s.worker}`));
  });

  // In a container the shell is pid 1, which has no default SIGTERM action: the script traps it.
  await t.test("stop: SIGTERM ends it within the grace period; its exit is reported once", async (t) => {
    await backend.stop("contract", "contract-0", 2000);
    t.same(backend.status("contract"), []);
    const e = exits.filter((x) => x.i === "contract-0");
    t.equal(e.length, 1);
    t.not(e[0]!.x.signal, "SIGKILL", "not killed");
  });

  await t.test("a process that ignores SIGTERM is killed after the grace period", async (t) => {
    await backend.start(launch("contract-1", "trap '' TERM; echo ready; while true; do sleep 0.2; done"));
    await waitFor("ready", async () => (/ready/.test((await backend.logs("contract", "contract-1", { maxBytes: 1024 })).text) ? true : undefined));
    await backend.stop("contract", "contract-1", 500);
    t.equal(exits.find((x) => x.i === "contract-1")?.x.signal, "SIGKILL");
  });

  await t.test("an exit on its own is reported with its code", async (t) => {
    await backend.start(launch("contract-2", "exit 7"));
    const e = await waitFor("the exit", () => exits.find((x) => x.i === "contract-2"));
    t.same(e.x, { code: 7, signal: null });
    t.same(backend.status("contract"), []);
  });
};
