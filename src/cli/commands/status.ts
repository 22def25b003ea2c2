import type { Command } from "commander";
import { jetstreamManager } from "@nats-io/jetstream";
import type { CliContext } from "../context.js";

export const register = (program: Command, ctx: CliContext) => {
  program
    .command("status")
    .summary("show the bus this CLI reaches and its streams")
    .description("Show the bus this CLI reaches: URL, server, and the JetStream streams of the account with their message counts.")
    .action(async (_opts: unknown, cmd: Command) => {
      const target = await ctx.target(cmd);
      const out = ctx.output(cmd);
      await ctx.withBus(cmd, async (nc) => {
        const jsm = await jetstreamManager(nc);
        const streams = [];
        for await (const s of jsm.streams.list()) {
          streams.push({
            name: s.config.name,
            subjects: s.config.subjects ?? [],
            messages: s.state.messages,
            bytes: s.state.bytes,
            replicas: s.config.num_replicas,
          });
        }
        streams.sort((a, b) => a.name.localeCompare(b.name));
        if (out.json) {
          out.record({ url: target.url, server: nc.info?.server_name, version: nc.info?.version, streams });
          return;
        }
        out.record({ url: target.url, server: nc.info?.server_name, version: nc.info?.version, credentials: target.credsPath });
        ctx.io.stdout("\n");
        out.table(streams, [
          { header: "stream", value: (s) => s.name },
          { header: "subjects", value: (s) => s.subjects.join(" ") },
          { header: "messages", value: (s) => s.messages },
          { header: "bytes", value: (s) => s.bytes },
          { header: "replicas", value: (s) => s.replicas },
        ]);
      });
    });
};
