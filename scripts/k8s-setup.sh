#!/usr/bin/env bash
# Set up what the project's own single-node Kubernetes test cluster needs (the kubernetes
# backend's tests bring it up with rpochaos.backends.kubernetes_cluster). Idempotent: about a
# second when everything is there; about 7 minutes once on 2 cores (the Go builds).
#
#   1. Debian's containerd, runc, etcd-server, openssl, iptables and gcc when missing (apt);
#   2. the CNI plugins: `apt-get download containernetworking-plugins` unpacked with `dpkg -x`
#      into the cache (not installed system-wide);
#   3. Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler,
#      kubelet, kube-proxy) built from the Go module proxy: the k8s.io/kubernetes module zip has
#      no staging modules, so a tiny main module requires it and replaces each staging module
#      (listed in its go.mod) by its published v0.x release; `go build -p 2`;
#   4. CoreDNS $COREDNS_VERSION with `go install`;
#   5. the pod sandbox image localhost/pause:3.10 in the Docker engine, FROM scratch: a few
#      lines of C built with gcc -static (the test cluster imports it into its containerd;
#      CoreDNS runs there as a host process, so it needs no image).
# Everything goes under <cache>/k8s/$K8S_VERSION; a stamp file written last marks each step
# complete. Set RPOCHAOS_K8S_DROP_GO_CACHES=1 to remove the Go build cache afterwards.
# Prints the directory of the binaries on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=v1.34.2
STAGING_VERSION=v0.34.2
COREDNS_VERSION=v1.15.0
PAUSE_IMAGE=localhost/pause:3.10
CACHE="${RPOCHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpochaos}"
ROOT="$CACHE/k8s/$K8S_VERSION"
BIN="$ROOT/bin"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

say() { printf '\033[1m[k8s-setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root for: $*"; exit 254; fi; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
apt_updated=0
apt_update() { if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi; }
apt_install() { apt_update; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null; }
go_bin() { command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || true; }

step_packages() {
  local t missing=(); t=$(now)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || missing+=(iptables)
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    say "packages: installing ${missing[*]} from Debian"
    apt_install "${missing[@]}"
    # Debian's containerd package starts a system service where systemd runs; the test cluster
    # runs its own private instance and needs none
  fi
  say "packages: present ($(took "$t") s)"
}

step_cni() {
  local t; t=$(now)
  if [ -f "$ROOT/cni/.complete" ]; then say "CNI plugins: cached ($(took "$t") s)"; return; fi
  apt_update
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq containernetworking-plugins >/dev/null)
  rm -rf "$ROOT/cni"; mkdir -p "$ROOT/cni/bin"
  dpkg -x "$tmp"/containernetworking-plugins_*.deb "$tmp/x"
  cp -a "$tmp"/x/usr/lib/cni/. "$ROOT/cni/bin/"
  rm -rf "$tmp"
  touch "$ROOT/cni/.complete"
  say "CNI plugins: unpacked into $ROOT/cni/bin ($(took "$t") s)"
}

need_go() {
  GO=$(go_bin)
  if [ -z "$GO" ]; then say "Go is needed to build Kubernetes and CoreDNS; install Go, then re-run"; exit 254; fi
}

step_kubernetes() {
  local t c ok=1; t=$(now)
  for c in "${COMPONENTS[@]}"; do [ -x "$BIN/$c" ] || ok=0; done
  if [ "$ok" = 1 ] && [ -f "$BIN/.kubernetes-complete" ]; then
    say "Kubernetes $K8S_VERSION: cached ($(took "$t") s)"; return
  fi
  need_go
  say "Kubernetes $K8S_VERSION: building ${COMPONENTS[*]} (minutes, once)"
  local mod="$CACHE/build/k8s-$K8S_VERSION"
  mkdir -p "$mod" "$BIN"
  export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
  local gomod; gomod=$(cd /tmp && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  {
    echo "module rpochaos.local/k8sbuild"
    echo
    echo "go 1.24.0"
    echo
    echo "godebug default=go1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*$|\t\1 => \1 '"$STAGING_VERSION"'|p' "$gomod"
    echo ")"
  } > "$mod/go.mod"
  local pkgs=()
  for c in "${COMPONENTS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  local v=${K8S_VERSION#v} ldflags
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=${v%%.*}"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$v" | cut -d. -f2)"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ldflags+=" -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  (cd "$mod" && "$GO" build -p 2 -trimpath -ldflags "$ldflags" -o "$BIN/" "${pkgs[@]}")
  touch "$BIN/.kubernetes-complete"
  say "Kubernetes $K8S_VERSION: built into $BIN ($(took "$t") s)"
}

step_coredns() {
  local t; t=$(now)
  if [ -x "$BIN/coredns" ] && [ -f "$BIN/.coredns-complete" ]; then
    say "CoreDNS $COREDNS_VERSION: cached ($(took "$t") s)"; return
  fi
  need_go
  say "CoreDNS $COREDNS_VERSION: building with go install (minutes, once)"
  mkdir -p "$BIN"
  (cd /tmp && GOBIN="$BIN" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local \
    "$GO" install -p 2 -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION")
  touch "$BIN/.coredns-complete"
  say "CoreDNS $COREDNS_VERSION: built ($(took "$t") s)"
}

# $1 image, $2 binary, $3 name inside the image
scratch_image() {
  local ctx; ctx=$(mktemp -d)
  cp "$2" "$ctx/$3"
  printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' "$3" "$3" "$3" > "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$1" "$ctx" >/dev/null 2>&1 || docker build -q -t "$1" "$ctx" >/dev/null
  rm -rf "$ctx"
}

step_images() {
  local t; t=$(now)
  if ! command -v docker >/dev/null || ! timeout 10 docker info >/dev/null 2>&1; then
    say "images: no Docker engine answers (scripts/docker-setup.sh starts one)"; exit 1
  fi
  if [ ! -x "$ROOT/pause/pause" ]; then
    mkdir -p "$ROOT/pause"
    cat > "$ROOT/pause/pause.c" <<'EOF'
/* the pod sandbox's only process: sleeps, reaps children, exits on SIGINT/SIGTERM */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, quit); signal(SIGTERM, quit); signal(SIGCHLD, reap);
  for (;;) pause();
}
EOF
    gcc -static -Os -s -o "$ROOT/pause/pause.tmp" "$ROOT/pause/pause.c"
    mv "$ROOT/pause/pause.tmp" "$ROOT/pause/pause"
  fi
  docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1 || scratch_image "$PAUSE_IMAGE" "$ROOT/pause/pause" pause
  say "images: $PAUSE_IMAGE ($(took "$t") s)"
}

all=$(now)
step_packages
step_cni
step_kubernetes
step_coredns
step_images
if [ "${RPOCHAOS_K8S_DROP_GO_CACHES:-0}" = 1 ] && [ -n "$(go_bin)" ]; then "$(go_bin)" clean -cache; fi
say "all set ($(took "$all") s)"
echo "$BIN"
