#!/usr/bin/env bash
# Set up what the docker backend and the compose game-day files need. Idempotent: seconds
# when everything is there already. Each step says how long it took.
#
#   1. a Docker engine: when `docker info` does not answer, install Debian's docker.io (when
#      dockerd is missing) and start dockerd in the background (log: $DOCKERD_LOG), then wait
#      until `docker info` answers;
#   2. debootstrap (Debian package), used to build the base image;
#   3. the Docker SDK for Python in the interpreter that runs rpochaos ($PYTHON, default
#      .venv/bin/python when it exists, else python3);
#   4. the `docker compose` v2 CLI plugin: Debian bookworm only packages docker-compose v1
#      (1.29, a separate `docker-compose` command), so when `docker compose` is missing and Go
#      is there, it is built from its Go module (github.com/docker/compose/v2) into
#      /usr/local/lib/docker/cli-plugins (skip with RPOCHAOS_SKIP_COMPOSE=1);
#   5. the local images (rpochaos/debian:bookworm, rpochaos/postgres:15,
#      rpochaos/toxiproxy:2.12.0, rpochaos/mariadb:10.11, rpochaos/patroni:4.1.5 (its
#      wheelhouse made with Debian's python3-pip, python3-setuptools, python3-wheel, installed
#      when missing), and rpochaos/kafka:3.9.2 when the Kafka jars are in the cache:
#      ./dev test fetches them first) that are missing: `python -m rpochaos.images build`.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_VERSION=v2.29.7
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/rpochaos-dockerd.log}"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi

say() { printf '\033[1m[docker-setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root for: $*"; exit 254; fi; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

engine_answers() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

step_engine() {
  local t; t=$(now)
  if engine_answers; then say "engine: answers ($(took "$t") s)"; return; fi
  if ! command -v dockerd >/dev/null; then
    say "engine: installing Debian's docker.io"
    apt_install docker.io
  fi
  if ! engine_answers; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
      say "engine: systemctl start docker"
      as_root systemctl start docker
    else
      say "engine: starting dockerd in the background (log: $DOCKERD_LOG)"
      as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
      as_root sh -c "setsid nohup dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    fi
    local i
    for i in $(seq 1 120); do engine_answers && break; sleep 0.5; done
  fi
  if ! engine_answers; then
    say "engine: dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:"
    tail -20 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
  say "engine: $(docker version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}})') ($(took "$t") s)"
}

step_debootstrap() {
  local t; t=$(now)
  if command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ]; then
    say "debootstrap: present ($(took "$t") s)"; return
  fi
  apt_install debootstrap
  say "debootstrap: installed ($(took "$t") s)"
}

step_sdk() {
  local t; t=$(now)
  if "$PY" -c 'import docker' 2>/dev/null; then
    say "Docker SDK for Python: $("$PY" -c 'import docker; print(docker.__version__)') ($(took "$t") s)"
    return
  fi
  "$PY" -m pip install -q 'docker>=7.1'
  say "Docker SDK for Python: installed in $PY ($(took "$t") s)"
}

step_compose() {
  local t; t=$(now)
  if docker compose version >/dev/null 2>&1; then
    say "compose: $(docker compose version --short 2>/dev/null || echo present) ($(took "$t") s)"; return
  fi
  if [ "${RPOCHAOS_SKIP_COMPOSE:-0}" = 1 ]; then say "compose: skipped"; return; fi
  local go; go=$(command -v go || echo /usr/local/go/bin/go)
  if [ ! -x "$go" ]; then
    say "compose: 'docker compose' is missing and Go is not installed to build it; the compose"
    say "         files need it (Debian's docker-compose package is v1 and cannot read them)"
    return
  fi
  say "compose: building the docker compose $COMPOSE_VERSION plugin with go install (minutes, once)"
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" install -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION"
  as_root mkdir -p /usr/local/lib/docker/cli-plugins
  as_root install -m 0755 "$tmp/cmd" /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$tmp"
  say "compose: $(docker compose version --short) installed ($(took "$t") s)"
}

# Debian's python3 with pip, setuptools and wheel: the rpochaos/patroni image's wheelhouse is
# made on the host with it (pip inside a docker build finds no index here)
step_wheel_tools() {
  local t; t=$(now)
  if /usr/bin/python3 -c 'import setuptools, wheel, pip' 2>/dev/null; then
    say "wheel tools: present ($(took "$t") s)"; return
  fi
  apt_install python3 python3-pip python3-setuptools python3-wheel
  say "wheel tools: installed ($(took "$t") s)"
}

step_images() {
  local t; t=$(now)
  as_root env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" RPOCHAOS_CACHE="${RPOCHAOS_CACHE:-}" \
    "$PY" -u -m rpochaos.images build >&2
  say "images: done ($(took "$t") s)"
}

all=$(now)
step_engine
step_debootstrap
step_sdk
step_compose
step_wheel_tools
step_images
say "all set ($(took "$all") s)"
