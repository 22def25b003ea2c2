import t from "tap";
import { Worker } from "../../src/sdk/index.js";

t.test("an empty servers value (an empty NATS_URL passed on) is refused, not a connection to the default port", async (t) => {
  for (const servers of ["", "  ", [""], []]) {
    const w = new Worker({ plugin: "wordcount", servers });
    await t.rejects(w.run(), /servers is empty/, JSON.stringify(servers));
  }
});
