import t from "tap";
import { runCli } from "./cliProcess.js";

t.test("ganglion with GANGLION_NATS_URL set but empty fails with exit 4 and names the variable", async (t) => {
  const r = await runCli(["plugin", "list"], { GANGLION_NATS_URL: "" });
  t.equal(r.code, 4, r.stderr);
  t.match(r.stderr, /GANGLION_NATS_URL is set but empty/);
});
