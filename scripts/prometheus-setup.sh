#!/usr/bin/env bash
# Set up Prometheus for the game-day stop condition's tests (idempotent; instant when present):
# Debian's prometheus package, unpacked into the cache with `apt-get download` + `dpkg -x`,
# so no system service is installed or started (the tests start their own server on a free
# loopback port). A game day needs no Prometheus of ours: it queries the team's.
# Where it goes: <cache>/prometheus/usr/bin/prometheus (rpochaos.deps.prometheus looks there
# after $PATH). Prints the binary's path on stdout.
set -euo pipefail
CACHE="${RPOCHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpochaos}"
DEST="$CACHE/prometheus"
BIN="$DEST/usr/bin/prometheus"
say() { printf '\033[1m[prometheus-setup]\033[0m %s\n' "$*" >&2; }

if command -v prometheus >/dev/null 2>&1; then command -v prometheus; exit 0; fi
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi

command -v apt-get >/dev/null || { say "needs apt-get (Debian's prometheus package), or prometheus on PATH"; exit 254; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "downloading Debian's prometheus package"
( cd "$tmp" && chmod 0777 . && apt-get download -q prometheus >/dev/null 2>&1 ) || {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
  ( cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1 )
}
rm -rf "$DEST.partial"
dpkg -x "$tmp"/prometheus_*.deb "$DEST.partial"
"$DEST.partial/usr/bin/prometheus" --version >/dev/null
rm -rf "$DEST" && mv "$DEST.partial" "$DEST"
say "prometheus: $("$BIN" --version 2>&1 | head -1)"
echo "$BIN"
