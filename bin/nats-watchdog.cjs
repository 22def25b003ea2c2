#!/usr/bin/env node
// Runs nats-server as a child and kills it as soon as the process that started us is gone, even
// when that process died by SIGKILL: our stdin is a pipe from it, and the pipe closes with it.
// Usage: nats-watchdog.cjs <nats-server> [args...]
"use strict";
const { spawn } = require("node:child_process");
const [bin, ...args] = process.argv.slice(2);
const child = spawn(bin, args, { stdio: ["ignore", "inherit", "inherit"] });
let stopping = false;
const stop = (sig) => {
  if (stopping) return;
  stopping = true;
  child.kill(sig);
  setTimeout(() => child.kill("SIGKILL"), 5000).unref();
};
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGTERM"));
process.stdin.on("data", () => {});
process.stdin.on("end", () => stop("SIGTERM"));
process.stdin.on("close", () => stop("SIGTERM"));
process.stdin.on("error", () => stop("SIGTERM"));
child.on("error", (err) => {
  process.stderr.write(`nats-watchdog: ${err.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
