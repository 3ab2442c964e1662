#!/usr/bin/env bash
# Set up MariaDB for rpochaos (idempotent; well under a second when present):
#   - Debian's mariadb-server and mariadb-client, when mariadbd, mariadb-install-db or the
#     mariadb client is missing;
#   - no system service: rpochaos starts its own servers on free ports of 127.0.0.1, each
#     with its own data directory and --no-defaults. The package's init script is kept
#     from starting during the install (a policy-rc.d that refuses every start, removed
#     afterwards), disabled for boot, and any server of the package's default data
#     directory /var/lib/mysql that runs anyway is stopped.
# Prints the server binary's path on stdout.
set -euo pipefail
PACKAGES=(mariadb-server mariadb-client)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root for: $*"; exit 254; fi; }

present() {
  [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null \
    && command -v mariadb >/dev/null && id mysql >/dev/null 2>&1
}

# a server of the package's own (default) data directory, if one runs: its pid
system_server() {
  local pid
  for f in /run/mysqld/mysqld.pid /var/run/mysqld/mysqld.pid; do
    [ -r "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then echo "$pid"; return; fi
  done
}

stop_system_service() {
  local pid; pid=$(system_server)
  [ -z "$pid" ] && return
  say "stopping the MariaDB system service the package started (pid $pid; rpochaos runs its own)"
  if [ -x /etc/init.d/mariadb ]; then as_root /etc/init.d/mariadb stop >/dev/null 2>&1 || true; fi
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  as_root kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  as_root kill -9 "$pid" 2>/dev/null || true
}

disable_service() {
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now mariadb >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null && [ -e /etc/init.d/mariadb ]; then
    as_root update-rc.d mariadb disable >/dev/null 2>&1 || true
  fi
}

install() {
  say "installing ${PACKAGES[*]} from Debian (rpochaos starts its own servers on free ports)"
  local policy=/usr/sbin/policy-rc.d placed=
  if [ ! -e "$policy" ]; then
    # exit 101 = "action forbidden": invoke-rc.d starts no service while this exists
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 0755 "$policy"
    placed=1
  fi
  local rc=0
  {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
  } || rc=$?
  if [ -n "$placed" ]; then as_root rm -f "$policy"; fi
  [ "$rc" = 0 ] || { say "apt-get install ${PACKAGES[*]} failed (exit $rc)"; exit "$rc"; }
  disable_service
}

if ! present; then
  install
  present || { say "mariadbd, mariadb-install-db or mariadb still missing after the install"; exit 1; }
fi
stop_system_service
echo /usr/sbin/mariadbd
