import t from "tap";
import { execFile } from "node:child_process";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { COMPOSE } from "../../src/host/main.js";
import { buildProgram, run } from "../../src/cli/main.js";
import { createContext } from "../../src/cli/context.js";
import { decodeConfig } from "../../src/config.js";
import { findNatsServer, startNatsServer } from "../../src/embedded/natsServer.js";
import { repoRoot, startCli } from "../cli/cliProcess.js";

type Service = {
  image?: string;
  build?: { context: string; dockerfile: string };
  command: string[];
  volumes: string[];
  ports?: string[];
  depends_on?: string[];
};
const compose = parse(await readFile(join(repoRoot, "docker-compose.yml"), "utf8")) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const config = decodeConfig({});
const quiet = { stdout: () => undefined, stderr: () => undefined };
const flag = (cmd: string[], name: string) => cmd[cmd.indexOf(name) + 1];

/** The host directory docker-compose.yml mounts, and that `compose init` writes by default. */
const composeInit = buildProgram(createContext(config, quiet))
  .commands.find((c) => c.name() === "compose")!
  .commands.find((c) => c.name() === "init")!;
const hostDir = `./${composeInit.registeredArguments[0]!.defaultValue as string}`;

t.test("docker-compose.yml runs the official nats image on the generated config", async (t) => {
  const nats = compose.services.nats!;
  t.equal(nats.image, "nats:2.9");
  t.equal(flag(nats.command, "--config"), COMPOSE.configInContainer);
  t.ok(nats.volumes.includes(`${hostDir}/${COMPOSE.configInDataDir}:${COMPOSE.configInContainer}:ro`), "mounts what compose init writes");
  for (const dir of [COMPOSE.storeDir, COMPOSE.resolverDir]) {
    const v = nats.volumes.find((x) => x.split(":")[1] === dir);
    t.ok(v, `a volume at ${dir}`);
    t.ok(v && v.split(":")[0]! in compose.volumes, `${dir} is a named volume`);
  }
  t.ok(
    nats.ports?.some((p) => p.endsWith(`:${COMPOSE.port}`)),
    "the client port is published",
  );
});

t.test("docker-compose.yml runs the core with ganglion serve and the keys", async (t) => {
  const core = compose.services.core!;
  t.equal(core.command[0], "serve");
  t.equal(flag(core.command, "--nats"), COMPOSE.natsUrl);
  t.equal(flag(core.command, "--creds"), `${COMPOSE.dataDirInCore}/creds/admin.creds`);
  t.equal(flag(core.command, "--data-dir"), COMPOSE.dataDirInCore);
  t.ok(core.volumes.includes(`${hostDir}:${COMPOSE.dataDirInCore}`), "keys and credentials are mounted");
  t.same(core.depends_on, ["nats"]);
  await access(join(repoRoot, core.build!.context, core.build!.dockerfile));
  t.match(await readFile(join(repoRoot, core.build!.dockerfile), "utf8"), /bin\/ganglion\.js/);
});

t.test("compose init writes a config the real nats-server runs, with keys the core accepts", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-compose-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const init = async () => {
    let out = "";
    const code = await run(["compose", "init", dir, "--json"], { stdout: (s) => void (out += s), stderr: quiet.stderr }, config);
    t.equal(code, 0);
    return JSON.parse(out) as { keys: string; config: string; adminCreds: string };
  };
  const first = await init();
  t.equal(first.keys, "created");
  const operatorSeed = await readFile(join(dir, "keys", "operator.nk"), "utf8");
  const second = await init();
  t.equal(second.keys, "reused");
  t.equal(await readFile(join(dir, "keys", "operator.nk"), "utf8"), operatorSeed, "keys are kept");

  const conf = await readFile(second.config, "utf8");
  t.match(conf, new RegExp(`store_dir: "${COMPOSE.storeDir}"`));
  t.match(conf, new RegExp(`dir: "${COMPOSE.resolverDir}"`));
  t.match(conf, /type: full/);
  t.match(conf, new RegExp(`^port: ${COMPOSE.port}$`, "m"));
  t.match(conf, /^host: "0\.0\.0\.0"$/m, "listens on every interface inside the container");

  // The same file with the container paths moved under a temp dir: nats-server must accept it
  // and the generated admin credentials must reach JetStream.
  const local = join(dir, "local.conf");
  await writeFile(
    local,
    conf
      .replaceAll('"/data/', `"${dir}/data/`)
      .replace(/^host: .*$/m, 'host: "127.0.0.1"')
      .replace(/^port: .*$/m, "port: -1")
      .replace(/^http_port: .*$/m, "http_port: -1"),
  );
  const bin = await findNatsServer(process.env);
  const checked = await promisify(execFile)(bin, ["-t", "-c", local]);
  t.match(checked.stdout + checked.stderr, /valid/);
  const server = await startNatsServer({ bin, configFile: local, portsDir: join(dir, "ports"), host: "127.0.0.1", port: -1 });
  t.teardown(() => server.stop());
  const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(await readFile(second.adminCreds)), maxReconnectAttempts: 0 });
  t.teardown(() => nc.close());
  const info = await (await jetstreamManager(nc)).getAccountInfo();
  t.type(info.streams, "number", "JetStream is enabled for the BUS account");

  // The core service as compose runs it, with the mounted data dir.
  const core = await startCli(["serve", "--nats", server.url, "--creds", second.adminCreds, "--data-dir", dir]);
  t.teardown(() => core.stop());
  t.equal((await (await jetstreamManager(nc)).streams.info("EVENTS")).config.name, "EVENTS");
  t.same(await core.stop(), { code: 0, signal: null });
});
