import type { Command } from "commander";
import { COMPOSE, writeComposeFiles } from "../../host/main.js";
import type { CliContext } from "../context.js";

export const register = (program: Command, ctx: CliContext) => {
  const compose = program
    .command("compose")
    .summary("files for docker-compose.yml")
    .description("Files for docker-compose.yml (the official nats image and the core in containers).");
  compose
    .command("init")
    .summary("write the keys, credentials and nats-server config docker-compose.yml mounts")
    .description(
      "Write what docker-compose.yml mounts into DIR: keys and credentials (created once, then reused) and compose/nats-server.conf, " +
        "the same operator-mode config `ganglion up` runs, with container paths. Then: docker compose up -d",
    )
    .argument("[dir]", "directory docker-compose.yml mounts", "deploy/data")
    .option("--tls", `TLS on the client port: a CA and a certificate for "${COMPOSE.natsHost}" in DIR/tls (mount it at ${COMPOSE.tlsDirInContainer})`, false)
    .option("--tls-verify", "with --tls: clients must present a certificate signed by the CA", false)
    .action(async (dir: string, opts: { tls: boolean; tlsVerify: boolean }, cmd: Command) => {
      const r = await writeComposeFiles(dir, opts.tls || opts.tlsVerify ? { tls: { verify: opts.tlsVerify } } : {});
      ctx.output(cmd).record({
        dataDir: r.dataDir,
        keys: r.created ? "created" : "reused",
        config: r.configFile,
        adminCreds: r.adminCreds,
        ...(r.tls
          ? {
              tlsCa: r.tls.ca,
              tls: `mount ${r.dataDir}/tls at ${COMPOSE.tlsDirInContainer} in the nats service; run the core with --nats tls://${COMPOSE.natsHost}:${COMPOSE.port} --tls-ca ${COMPOSE.dataDirInCore}/tls/ca-cert.pem${r.tls.verify ? ` --tls-cert ${COMPOSE.dataDirInCore}/tls/admin-cert.pem --tls-key ${COMPOSE.dataDirInCore}/tls/admin-key.pem` : ""}`,
            }
          : {}),
        next: "docker compose up -d",
      });
    });
};
