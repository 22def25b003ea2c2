import t from "tap";
import Docker from "dockerode";
import { pino } from "pino";
import { dockerBackend } from "../../src/runner/docker.js";
import { backendContract } from "./backendContract.js";

// The backend contract against the `docker` backend, when a Docker daemon answers. Set
// GANGLION_TEST_DOCKER_IMAGE to an image with /bin/sh, stat and sleep that is already pulled
// (default busybox:1.36); the test never pulls.

const socketPath = process.env.DOCKER_SOCKET ?? "/var/run/docker.sock";
const image = process.env.GANGLION_TEST_DOCKER_IMAGE ?? "busybox:1.36";
const docker = new Docker({ socketPath });
const why = await docker
  .ping()
  .then(() => docker.getImage(image).inspect())
  .then(() => undefined)
  .catch((err: Error) => err.message);

if (why !== undefined) {
  t.plan(0, `skip: no Docker daemon with the image ${image} answers on ${socketPath} (${why}); the docker backend's contract suite runs where one does`);
} else {
  await t.test("the docker backend keeps the backend contract", (t) =>
    backendContract(
      t,
      (onExit) => dockerBackend({ log: pino({ level: "silent" }), events: { onExit }, socketPath, docker }),
      (script) => ({ command: "/bin/sh", args: ["-c", script], image }),
    ),
  );
  t.teardown(async () => {
    for (const c of await docker.listContainers({ all: true, filters: { label: ["dev.ganglion.runner.plugin=contract"] } })) {
      await docker.getContainer(c.Id).remove({ force: true });
    }
  });
}
