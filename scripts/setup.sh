#!/usr/bin/env bash
# Installs what Ganglion needs on this machine: checks Node.js (20 or newer), installs nats-server
# (2.9 or newer) with apt-get when it is missing, then the npm dependencies (`npm install`, which
# also builds dist/). Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# 1. Node.js
command -v node >/dev/null 2>&1 || die "Node.js is not installed. Install Node.js 20 or newer (https://nodejs.org, or your distribution's nodejs package), then run this again."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old; Ganglion needs 20 or newer."

# 2. nats-server: NATS_SERVER_BIN, PATH, or where Debian puts it.
find_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ]; then echo "$NATS_SERVER_BIN"; return; fi
  command -v nats-server 2>/dev/null && return
  for p in /usr/sbin/nats-server /usr/local/sbin/nats-server; do [ -x "$p" ] && { echo "$p"; return; }; done
  return 0
}
version_ok() { # nats-server 2.9.0 or newer
  local v; v=$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1) || return 1
  [ -n "$v" ] || return 1
  local major minor; major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 9 ]; }
}
bin=$(find_nats_server)
if [ -z "$bin" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing nats-server: $sudo apt-get install -y nats-server"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nats-server
    bin=$(find_nats_server)
  else
    die "nats-server is not installed and this is not a Debian/Ubuntu system. Install nats-server 2.9 or newer (macOS: \`brew install nats-server\`; elsewhere: a release binary from https://github.com/nats-io/nats-server/releases), put it on PATH or set NATS_SERVER_BIN, then run this again."
  fi
fi
[ -n "$bin" ] && [ -x "$bin" ] || die "nats-server was not found after installing it; set NATS_SERVER_BIN to its path."
version_ok "$bin" || die "$bin is $("$bin" --version 2>&1); Ganglion needs nats-server 2.9 or newer. Install a newer release and set NATS_SERVER_BIN."
say "nats-server: $bin ($("$bin" --version 2>&1))"

# 3. npm dependencies (and dist/, through the `prepare` script).
# `npm install`, not `npm ci`: it installs the versions package-lock.json pins all the same, and
# `npm ci` refuses a lock that lacks optional packages for other platforms (msgpackr-extract's
# darwin/win32 builds, under bullmq), which registry mirrors without them produce.
npm install --no-audit --no-fund
say "ready: start the bus with \`npx ganglion up\`"
