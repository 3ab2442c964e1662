#!/usr/bin/env bash
# Set up what Patroni-managed PostgreSQL needs (idempotent; well under a second when present):
#   - etcd (server and etcdctl) from Debian's etcd-server / etcd-client, when missing;
#   - Patroni PATRONI_VERSION with its etcd3 and psycopg3 extras in its own virtual
#     environment, built with Debian's python3 (a pyenv Python under root's home is
#     unreadable by the database user).
# Where the environment goes: $RPOCHAOS_PATRONI_VENV if set; else <cache>/patroni-<version>
# when the database user (postgres, or $RPOCHAOS_PG_USER) can reach the cache; else (root
# with a 0700 home, the usual case) /var/cache/rpochaos/patroni-<version>, world-readable.
# PostgreSQL refuses to run as root, so Patroni runs as that user and must read its own
# files. rpochaos.patroni.deps looks in the same places in the same order.
# A stamp file written last (.rpochaos-installed = the pinned requirement) marks a complete
# environment; an interrupted install is redone from scratch on the next call.
# Prints the environment's directory on stdout.
set -euo pipefail
PATRONI_VERSION=4.1.5
REQUIREMENT="patroni[etcd3,psycopg3]==$PATRONI_VERSION"
CACHE="${RPOCHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpochaos}"
DB_USER="${RPOCHAOS_PG_USER:-postgres}"
umask 022

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root for: $*"; exit 254; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# every directory from / down to $1 (the parts that exist) lets others traverse it
reachable_by_others() {
  local p="$1"
  while [ ! -e "$p" ]; do p=$(dirname "$p"); done
  while :; do
    [ "$(( 0$(stat -c %a "$p") & 01 ))" -ne 0 ] || return 1
    [ "$p" = / ] && return 0
    p=$(dirname "$p")
  done
}

venv_dir() {
  if [ -n "${RPOCHAOS_PATRONI_VENV:-}" ]; then echo "$RPOCHAOS_PATRONI_VENV"; return; fi
  # not root: Patroni runs as ourselves and reads the cache as it is
  if [ "$(id -u)" != 0 ] || reachable_by_others "$CACHE"; then
    echo "$CACHE/patroni-$PATRONI_VERSION"
  else
    echo "/var/cache/rpochaos/patroni-$PATRONI_VERSION"
  fi
}

setup_etcd() {
  local missing=()
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v etcdctl >/dev/null || missing+=(etcd-client)
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]} from Debian (rpochaos starts its own etcd on free ports)"
  apt_install "${missing[@]}"
}

setup_venv() {
  local dir="$1" stamp="$1/.rpochaos-installed"
  if [ -x "$dir/bin/patroni" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$REQUIREMENT" ]; then
    return
  fi
  local py=/usr/bin/python3
  if [ ! -x "$py" ]; then apt_install python3; fi
  if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
    say "installing python3-venv from Debian (Patroni gets its own environment)"
    apt_install python3-venv
  fi
  say "installing $REQUIREMENT into $dir"
  mkdir -p "$(dirname "$dir")"
  chmod 0755 "$(dirname "$dir")"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -qq --disable-pip-version-check "$REQUIREMENT" >&2
  chmod -R a+rX "$dir"
  if [ "$(id -u)" = 0 ] && id "$DB_USER" >/dev/null 2>&1; then
    if ! setpriv --reuid="$DB_USER" --regid="$DB_USER" --init-groups \
        "$dir/bin/patroni" --version >/dev/null 2>&1; then
      say "the database user $DB_USER cannot run $dir/bin/patroni (check the directory permissions)"
      exit 1
    fi
  fi
  echo "$REQUIREMENT" > "$stamp"
}

setup_etcd
dir=$(venv_dir)
mkdir -p "$(dirname "$dir")"
# one installer at a time (parallel worktrees share the cache)
exec 9>"$(dirname "$dir")/.patroni-$PATRONI_VERSION.lock"
flock 9
setup_venv "$dir"
echo "$dir"
