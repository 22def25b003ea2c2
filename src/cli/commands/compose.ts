import type { Command } from "commander";
import { writeComposeFiles } from "../../main.js";
import type { CliContext } from "../context.js";

export const register = (program: Command, ctx: CliContext) => {
  const compose = program.command("compose").summary("files for docker-compose.yml").description("Files for docker-compose.yml (the official nats image and the core in containers).");
  compose
    .command("init")
    .summary("write the keys, credentials and nats-server config docker-compose.yml mounts")
    .description(
      "Write what docker-compose.yml mounts into DIR: keys and credentials (created once, then reused) and compose/nats-server.conf, " +
        "the same operator-mode config `ganglion up` runs, with container paths. Then: docker compose up -d",
    )
    .argument("[dir]", "directory docker-compose.yml mounts", "deploy/data")
    .action(async (dir: string, _opts: unknown, cmd: Command) => {
      const r = await writeComposeFiles(dir);
      ctx.output(cmd).record({
        dataDir: r.dataDir,
        keys: r.created ? "created" : "reused",
        config: r.configFile,
        adminCreds: r.adminCreds,
        next: "docker compose up -d",
      });
    });
};
