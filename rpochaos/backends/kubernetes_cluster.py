"""The project's own single-node Kubernetes test cluster: bring it up, tear it down.

Built from the binaries ``scripts/k8s-setup.sh`` leaves in <cache>/k8s/<version>/bin (see
/docs/kubernetes.md for how they are made). ``up()`` starts, each as a child process whose pid
is recorded: a private containerd (its own socket, root and state under the scratch
directory), etcd on 127.0.0.1, kube-apiserver on 127.0.0.1, kube-controller-manager and
kube-scheduler (no leader election), the kubelet, kube-proxy (iptables mode) and CoreDNS (a
host process on the node IP, answering only for cluster.local: it forwards nothing). It
returns a ``Cluster`` whose kubeconfig reaches the apiserver as cluster-admin.

The network rule (every address lives on interfaces the run creates; no packet from a pod
leaves the machine): the node IP 10.250.0.1/32 sits on a bridge ``rpk8s0`` made for it; pods
live on ``cni0`` (10.244.0.0/24, no masquerade); before the kubelet starts (so before the first
pod), ``mangle FORWARD -i cni0 ! -o cni0 DROP`` (v4 and v6) drops everything a pod sends
anywhere but to another pod, and ``filter FORWARD -i cni0 -o cni0 ACCEPT`` lets pods reach each
other through Docker's FORWARD DROP policy. ``Cluster.dropped()`` reads the DROP rules'
packet counters. NodePorts answer on 127.0.0.1 and the node IP (kube-proxy sets
``route_localnet``, restored at teardown).

Host state changed and restored: the sysctls in ``SYSCTLS`` (the kubelet and kube-proxy change
some; their values are saved first), iptables/ip6tables chains named KUBE-* (removed), the rules
above, the two bridges, the fixed host paths the kubelet and CNI write (``HOST_PATHS``, removed
when they did not exist before), every mount under the scratch directory, the kubepods cgroups.
A state file (``STATE``) records all of it as soon as it is made, so ``down()`` (or the next
``up()``) cleans up after a killed process too. One cluster per machine at a time.

``python -m rpochaos.backends.kubernetes_cluster up|down`` does the same from a shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rpochaos.deps import cache_dir
from rpochaos.errors import MissingDependency, TopologyError

K8S_VERSION = "v1.34.2"
NODE_NAME = "k8s-node"
NODE_BRIDGE = "rpk8s0"
NODE_IP = "10.250.0.1"
POD_BRIDGE = "cni0"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/12"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
PAUSE_IMAGE = "localhost/pause:3.10"
STATE = Path("/run/rpochaos-k8s-cluster.json")
RULE_COMMENT = "rpochaos-k8s"
SYSCTLS = (
    "kernel/panic",
    "kernel/panic_on_oops",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
HOST_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/var/lib/cni")
COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
SETUP_HINT = "scripts/k8s-setup.sh   (builds Kubernetes and CoreDNS once into the cache)"
_DROP_RULE = ["FORWARD", "-i", POD_BRIDGE, "!", "-o", POD_BRIDGE]
_ACCEPT_RULE = ["FORWARD", "-i", POD_BRIDGE, "-o", POD_BRIDGE]


def bin_dir() -> Path:
    return cache_dir() / "k8s" / K8S_VERSION / "bin"


def cni_dir() -> Path:
    return cache_dir() / "k8s" / K8S_VERSION / "cni" / "bin"


def binaries_present() -> bool:
    b = bin_dir()
    return (
        all((b / c).is_file() for c in (*COMPONENTS, "coredns"))
        and (cni_dir() / "bridge").is_file()
    )


def require_binaries() -> None:
    """MissingDependency (with the set-up hint) unless every binary and tool is there."""
    if not binaries_present():
        raise MissingDependency(f"Kubernetes {K8S_VERSION} binaries in {bin_dir()}", SETUP_HINT)
    for tool in ("containerd", "etcd", "openssl", "iptables", "ip", "ctr", "docker"):
        if shutil.which(tool) is None:
            raise MissingDependency(f"the {tool} command", SETUP_HINT)
    if os.geteuid() != 0:
        raise MissingDependency("root (the test cluster changes iptables and mounts)", SETUP_HINT)


# -- the recorded state -----------------------------------------------------------------------


@dataclass
class State:
    """Everything ``up`` changed on the host, written to ``STATE`` as it happens."""

    scratch: str
    pids: dict[str, list[int]] = field(default_factory=dict)  # name -> [pid, start time]
    sysctls: dict[str, str] = field(default_factory=dict)
    host_paths: list[str] = field(default_factory=list)  # made by the run: removed at teardown
    bridges: list[str] = field(default_factory=list)
    rules: list[list[str]] = field(default_factory=list)  # [binary, table, *rule]
    chains_before: dict[str, list[str]] = field(default_factory=dict)  # "iptables/nat" -> names
    cgroups: list[str] = field(default_factory=list)

    def save(self) -> None:
        tmp = STATE.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(STATE)


@dataclass
class Cluster:
    """A running test cluster: its kubeconfig (cluster-admin on https://127.0.0.1:<port>)."""

    kubeconfig: Path
    scratch: Path
    node_ip: str = NODE_IP
    bringup_s: float = 0.0

    def dropped(self) -> int:
        """Packets the pod bridge's outbound DROP rules have dropped (v4 + v6)."""
        return dropped_packets()


def _proc_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _run(*argv: str, check: bool = True, timeout: float = 60) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise TopologyError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- certificates and kubeconfigs -------------------------------------------------------------


def _certs(pki: Path) -> None:
    """A CA, the apiserver's serving cert, one client cert per component, a service-account
    key pair: EC P-256, made with openssl."""
    pki.mkdir(parents=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run("openssl", "req", "-x509", *ec, "-keyout", f"{pki}/ca.key", "-out", f"{pki}/ca.crt",
         "-days", "3", "-subj", "/CN=rpochaos-test-ca")  # fmt: skip
    clients = {
        "apiserver": ("kube-apiserver", ""),
        "admin": ("rpochaos-admin", "system:masters"),
        "controller-manager": ("system:kube-controller-manager", ""),
        "scheduler": ("system:kube-scheduler", ""),
        "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
        "proxy": ("system:kube-proxy", ""),
        "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
        "coredns": ("rpochaos-coredns", "system:masters"),
    }
    for name, (cn, org) in clients.items():
        subj = f"/CN={cn}" + (f"/O={org}" if org else "")
        _run("openssl", "req", *ec, "-keyout", f"{pki}/{name}.key", "-out", f"{pki}/{name}.csr",
             "-subj", subj)  # fmt: skip
        ext = pki / f"{name}.ext"
        if name == "apiserver":
            ext.write_text(
                "subjectAltName=IP:127.0.0.1,IP:"
                f"{API_SERVICE_IP},IP:{NODE_IP},DNS:kubernetes,DNS:kubernetes.default,"
                "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n"
            )
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        _run("openssl", "x509", "-req", "-in", f"{pki}/{name}.csr", "-CA", f"{pki}/ca.crt",
             "-CAkey", f"{pki}/ca.key", "-CAcreateserial", "-days", "3", "-extfile", str(ext),
             "-out", f"{pki}/{name}.crt")  # fmt: skip
    _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{pki}/sa.key")
    _run("openssl", "ec", "-in", f"{pki}/sa.key", "-pubout", "-out", f"{pki}/sa.pub")


def _kubeconfig(path: Path, pki: Path, user: str, server: str) -> None:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "rpochaos-test",
                        "cluster": {"server": server, "certificate-authority": f"{pki}/ca.crt"},
                    }
                ],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate": f"{pki}/{user}.crt",
                            "client-key": f"{pki}/{user}.key",
                        },
                    }
                ],
                "contexts": [
                    {"name": "rpochaos-test", "context": {"cluster": "rpochaos-test", "user": user}}
                ],
                "current-context": "rpochaos-test",
            },
            indent=1,
        )
    )


# -- host state: sysctls, iptables, bridges, mounts -------------------------------------------


def _sysctl_read(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def _sysctl_write(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value)


def _chains(binary: str, table: str) -> list[str]:
    out = _run(f"{binary}-save", "-t", table, check=False)
    return [line[1:].split()[0] for line in out.splitlines() if line.startswith(":")]


def _rule(binary: str, table: str, op: str, rule: list[str], target: str) -> bool:
    argv = [binary, "-w", "5", "-t", table, op, *rule, "-m", "comment", "--comment", RULE_COMMENT]
    if op == "-I":
        argv.insert(argv.index("-I") + 2, "1")
    return subprocess.run([*argv, "-j", target], capture_output=True, check=False).returncode == 0


def dropped_packets() -> int:
    """The packet counters of the pod bridge's outbound DROP rules (v4 + v6), 0 when absent."""
    total = 0
    for binary in ("iptables", "ip6tables"):
        out = _run(binary, "-w", "5", "-t", "mangle", "-L", "FORWARD", "-v", "-x", "-n",
                   check=False)  # fmt: skip
        for line in out.splitlines():
            if RULE_COMMENT in line and "DROP" in line:
                total += int(line.split()[0])
    return total


def _remove_kube_chains(state: State) -> None:
    """Delete every rule that jumps to a KUBE-* chain made by the cluster, then those chains."""
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            before = set(state.chains_before.get(f"{binary}/{table}", []))
            ours = [c for c in _chains(binary, table) if c.startswith("KUBE-") and c not in before]
            if not ours:
                continue
            save = _run(f"{binary}-save", "-t", table, check=False)
            for line in save.splitlines():
                parts = shlex.split(line)
                jumps = {parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "-j"}
                if (
                    len(parts) > 2
                    and parts[0] == "-A"
                    and parts[1] not in ours
                    and jumps & set(ours)
                ):
                    _run(binary, "-w", "5", "-t", table, "-D", *parts[1:], check=False)
            for c in ours:
                _run(binary, "-w", "5", "-t", table, "-F", c, check=False)
            for c in ours:
                _run(binary, "-w", "5", "-t", table, "-X", c, check=False)


def _mounts_under(root: str) -> list[str]:
    out = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == root or target.startswith(root.rstrip("/") + "/"):
                out.append(target)
    return sorted(out, key=len, reverse=True)


def _kubepods_cgroups() -> list[Path]:
    found = []
    root = Path("/sys/fs/cgroup")
    for ctl in root.iterdir() if root.is_dir() else []:
        p = ctl / "kubepods"
        if p.is_dir():
            found.append(p)
    return found


def _rmdir_tree(path: Path) -> None:
    for d in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                    reverse=True):  # fmt: skip
        with contextlib.suppress(OSError):
            d.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


# -- processes --------------------------------------------------------------------------------


def _start(state: State, name: str, argv: list[str], logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    p = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    state.pids[name] = [p.pid, int(_proc_start(p.pid) or 0)]
    state.save()
    return p


def _alive(pid: int, start: int) -> bool:
    s = _proc_start(pid)
    return s is not None and (start == 0 or int(s) == start)


def _stop_pid(pid: int, start: int, timeout_s: float = 10.0) -> None:
    if not _alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid, start):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)


def _shims(scratch: str) -> list[int]:
    """The pids of containerd shims (and what they run) of this cluster's containerd."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmd and scratch in cmd:
            pids.append(int(d.name))
    return pids


def _wait(what: str, timeout_s: float, probe: object, logs: Path, log_name: str) -> None:
    assert callable(probe)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if probe():
                return
        time.sleep(0.2)
    tail = ""
    with contextlib.suppress(OSError):
        tail = "\n".join((logs / f"{log_name}.log").read_text(errors="replace").splitlines()[-15:])
    raise TopologyError(f"test cluster: {what} within {timeout_s:g} s\n{tail}")


# -- up and down ------------------------------------------------------------------------------


def up(images: list[str] | None = None, log: object = print) -> Cluster:
    """Bring the cluster up (tearing down one a killed process left first) and import
    ``images`` (docker image names) into its containerd. Raises MissingDependency when the
    binaries or tools are missing, TopologyError (after tearing down what started) when a
    component does not come up."""
    require_binaries()
    if STATE.exists():
        down()
    t0 = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="rpochaos-k8s-"))
    state = State(scratch=str(scratch))
    state.save()
    try:
        cluster = _up(state, scratch, images or [], log)
    except BaseException:
        down()
        raise
    cluster.bringup_s = round(time.monotonic() - t0, 1)
    return cluster


def _say(log: object, msg: str) -> None:
    if callable(log):
        log(f"[k8s] {msg}")


def _up(state: State, scratch: Path, images: list[str], log: object) -> Cluster:
    t0 = time.monotonic()
    binaries, logs = bin_dir(), scratch / "logs"
    logs.mkdir()
    for p in HOST_PATHS:
        if not os.path.exists(p):
            state.host_paths.append(p)
    for name in SYSCTLS:
        v = _sysctl_read(name)
        if v is not None:
            state.sysctls[name] = v
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            state.chains_before[f"{binary}/{table}"] = _chains(binary, table)
    state.save()
    # the network first: bridges, then the drop rule, before any pod can exist
    for br in (NODE_BRIDGE, POD_BRIDGE):
        if Path(f"/sys/class/net/{br}").exists():
            raise TopologyError(
                f"test cluster: the interface {br} exists already (another cluster?)"
            )
    _run("ip", "link", "add", NODE_BRIDGE, "type", "bridge")
    state.bridges.append(NODE_BRIDGE)
    state.save()
    _run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
    _run("ip", "link", "set", NODE_BRIDGE, "up")
    # cni0 is made now (not by the CNI plugin) so the rules below name a real interface
    _run("ip", "link", "add", POD_BRIDGE, "type", "bridge")
    state.bridges.append(POD_BRIDGE)
    state.save()
    for binary in ("iptables", "ip6tables"):
        if not _rule(binary, "mangle", "-I", _DROP_RULE, "DROP"):
            raise TopologyError(f"test cluster: could not add the {binary} drop rule")
        state.rules.append([binary, "mangle", *_DROP_RULE, "DROP"])
        state.save()
        if _rule(binary, "filter", "-I", _ACCEPT_RULE, "ACCEPT"):
            state.rules.append([binary, "filter", *_ACCEPT_RULE, "ACCEPT"])
            state.save()
    _say(log, f"network ready ({time.monotonic() - t0:.1f} s)")

    pki = scratch / "pki"
    _certs(pki)
    etcd_port, etcd_peer, api_port = _free_port(), _free_port(), _free_port()
    server = f"https://127.0.0.1:{api_port}"
    for user in ("admin", "controller-manager", "scheduler", "kubelet", "proxy", "coredns"):
        _kubeconfig(scratch / f"{user}.kubeconfig", pki, user, server)
    _say(log, f"certificates ready ({time.monotonic() - t0:.1f} s)")

    # containerd
    cd = scratch / "containerd"
    (cd / "root").mkdir(parents=True)
    (cd / "state").mkdir()
    netd = scratch / "cni" / "net.d"
    netd.mkdir(parents=True)
    (netd / "10-rpochaos.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "rpochaos",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": POD_BRIDGE,
                        "isGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": POD_CIDR}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(scratch / "cni" / "ipam"),
                        },
                    }
                ],
            }
        )
    )
    sock = cd / "containerd.sock"
    (cd / "config.toml").write_text(
        f"""version = 2
root = "{cd}/root"
state = "{cd}/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_dir()}"
    conf_dir = "{netd}"
"""
    )
    _start(state, "containerd", ["containerd", "--config", str(cd / "config.toml")], logs)
    _wait("containerd did not answer", 30,
          lambda: subprocess.run(["ctr", "-a", str(sock), "version"], capture_output=True,
                                 timeout=5).returncode == 0, logs, "containerd")  # fmt: skip

    # images, while the control plane starts
    importer = subprocess.Popen(
        ["sh", "-c", 'docker save "$@" | ctr -a "$0" -n k8s.io images import --all-platforms -',
         str(sock), PAUSE_IMAGE, *images],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip

    _start(state, "etcd", [
        "etcd", "--name", "default", "--data-dir", str(scratch / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
        "--initial-cluster", f"default=http://127.0.0.1:{etcd_peer}",
        "--listen-metrics-urls", "",
    ], logs)  # fmt: skip
    _start(state, "kube-apiserver", [
        str(binaries / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1", f"--secure-port={api_port}", f"--advertise-address={NODE_IP}",
        f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
        f"--client-ca-file={pki}/ca.crt",
        f"--tls-cert-file={pki}/apiserver.crt", f"--tls-private-key-file={pki}/apiserver.key",
        f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
        f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={pki}/sa.pub",
        f"--service-account-signing-key-file={pki}/sa.key",
        "--allow-privileged=true", "--profiling=false", "--endpoint-reconciler-type=none",
        "--service-node-port-range=30000-32767",
    ], logs)  # fmt: skip
    admin = scratch / "admin.kubeconfig"

    def api_ready() -> bool:
        p = subprocess.run(
            ["curl", "-sf", "--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/admin.crt",
             "--key", f"{pki}/admin.key", f"{server}/readyz"],
            capture_output=True, timeout=5, check=False,
        )  # fmt: skip
        return p.returncode == 0

    _wait("kube-apiserver was not ready", 60, api_ready, logs, "kube-apiserver")
    _say(log, f"apiserver ready ({time.monotonic() - t0:.1f} s)")
    _start(state, "kube-controller-manager", [
        str(binaries / "kube-controller-manager"),
        f"--kubeconfig={scratch}/controller-manager.kubeconfig", "--leader-elect=false",
        f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
        f"--cluster-signing-cert-file={pki}/ca.crt", f"--cluster-signing-key-file={pki}/ca.key",
        "--use-service-account-credentials=false", "--allocate-node-cidrs=false",
        "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false",
    ], logs)  # fmt: skip
    _start(state, "kube-scheduler", [
        str(binaries / "kube-scheduler"), f"--kubeconfig={scratch}/scheduler.kubeconfig",
        "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false",
    ], logs)  # fmt: skip

    resolv = scratch / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_SERVICE_IP}\n")
    kubelet_root = scratch / "kubelet"
    (scratch / "kubelet.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "authentication": {
                    "anonymous": {"enabled": False},
                    "webhook": {"enabled": True},
                    "x509": {"clientCAFile": f"{pki}/ca.crt"},
                },
                "authorization": {"mode": "Webhook"},
                "address": NODE_IP,
                "readOnlyPort": 0,
                "healthzBindAddress": "127.0.0.1",
                "healthzPort": 0,
                "cgroupDriver": "cgroupfs",
                "failCgroupV1": False,
                "failSwapOn": False,
                "clusterDNS": [DNS_SERVICE_IP],
                "clusterDomain": "cluster.local",
                "resolvConf": str(resolv),
                "containerRuntimeEndpoint": f"unix://{sock}",
                "podLogsDir": str(scratch / "pod-logs"),
                "imageGCHighThresholdPercent": 100,
                "imageGCLowThresholdPercent": 99,
                "evictionHard": {
                    "memory.available": "100Mi",
                    "nodefs.available": "1%",
                    "imagefs.available": "1%",
                },
                "serializeImagePulls": False,
                "protectKernelDefaults": False,
                "registerNode": True,
                "localStorageCapacityIsolation": False,
            }
        )
    )
    _start(state, "kubelet", [
        str(binaries / "kubelet"), f"--kubeconfig={scratch}/kubelet.kubeconfig",
        f"--config={scratch}/kubelet.yaml", f"--root-dir={kubelet_root}",
        f"--cert-dir={scratch}/kubelet-pki", f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
    ], logs)  # fmt: skip
    (scratch / "kube-proxy.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "clientConnection": {"kubeconfig": f"{scratch}/proxy.kubeconfig"},
                "mode": "iptables",
                "clusterCIDR": POD_CIDR,
                "hostnameOverride": NODE_NAME,
                "nodePortAddresses": ["127.0.0.0/8", f"{NODE_IP}/32"],
                "healthzBindAddress": f"127.0.0.1:{_free_port()}",
                "metricsBindAddress": f"127.0.0.1:{_free_port()}",
                "conntrack": {
                    "maxPerCore": 0,
                    "min": 0,
                    "tcpEstablishedTimeout": "0s",
                    "tcpCloseWaitTimeout": "0s",
                },
                "iptables": {"localhostNodePorts": True, "masqueradeAll": False},
            }
        )
    )
    _start(state, "kube-proxy", [
        str(binaries / "kube-proxy"), f"--config={scratch}/kube-proxy.yaml",
    ], logs)  # fmt: skip
    corefile = scratch / "Corefile"
    corefile.write_text(
        f".:53 {{\n  bind {NODE_IP}\n  errors\n"
        f"  kubernetes cluster.local in-addr.arpa ip6.arpa {{\n"
        f"    kubeconfig {scratch}/coredns.kubeconfig rpochaos-test\n"
        "    pods insecure\n  }\n}\n"
    )
    _start(state, "coredns", [str(binaries / "coredns"), "-conf", str(corefile)], logs)

    out, _ = importer.communicate(timeout=300)
    if importer.returncode != 0:
        raise TopologyError(f"test cluster: importing images failed:\n{out.decode()[-2000:]}")
    _say(log, f"images imported ({time.monotonic() - t0:.1f} s)")

    def node_ready() -> bool:
        return _node_ready(admin)

    _wait("the node was not Ready", 90, node_ready, logs, "kubelet")
    _dns_service(admin)
    _say(log, f"node Ready ({time.monotonic() - t0:.1f} s)")
    for c in _kubepods_cgroups():
        state.cgroups.append(str(c))
    state.save()
    return Cluster(kubeconfig=admin, scratch=scratch)


def _core(kubeconfig: Path) -> Any:
    from rpochaos.backends.kubernetes_api import Api

    return Api.from_kubeconfig(kubeconfig).core


def _node_ready(kubeconfig: Path) -> bool:
    node = _core(kubeconfig).read_node(NODE_NAME, _request_timeout=5)
    conds = {c.type: c.status for c in node.status.conditions or []}
    return conds.get("Ready") == "True"


def _dns_service(kubeconfig: Path) -> None:
    """The kube-dns Service at DNS_SERVICE_IP, its endpoint CoreDNS on the node IP."""
    from kubernetes import client

    core = _core(kubeconfig)
    ports = [
        client.V1ServicePort(name="dns", port=53, protocol="UDP"),
        client.V1ServicePort(name="dns-tcp", port=53, protocol="TCP"),
    ]
    core.create_namespaced_service(
        "kube-system",
        client.V1Service(
            metadata=client.V1ObjectMeta(name="kube-dns"),
            spec=client.V1ServiceSpec(cluster_ip=DNS_SERVICE_IP, ports=ports),
        ),
    )
    core.create_namespaced_endpoints(
        "kube-system",
        client.V1Endpoints(
            metadata=client.V1ObjectMeta(name="kube-dns"),
            subsets=[
                client.V1EndpointSubset(
                    addresses=[client.V1EndpointAddress(ip=NODE_IP)],
                    ports=[
                        client.CoreV1EndpointPort(name="dns", port=53, protocol="UDP"),
                        client.CoreV1EndpointPort(name="dns-tcp", port=53, protocol="TCP"),
                    ],
                )
            ],
        ),
    )


def down(log: object = print) -> list[str]:
    """Tear down the cluster ``STATE`` records (nothing when there is none); return what was
    removed or restored. Never raises for what is already gone."""
    try:
        state = State(**json.loads(STATE.read_text()))
    except (OSError, ValueError, TypeError):
        return []
    t0 = time.monotonic()
    done: list[str] = []
    scratch = state.scratch
    admin = Path(scratch, "admin.kubeconfig")
    pids = state.pids
    if "kubelet" in pids and _alive(*pids["kubelet"]) and admin.exists():
        with contextlib.suppress(Exception):
            _delete_all_pods(admin)
            done.append("every pod deleted")
    for name in ("coredns", "kube-proxy", "kubelet", "kube-scheduler",
                 "kube-controller-manager", "kube-apiserver", "etcd"):  # fmt: skip
        if name in pids:
            _stop_pid(*pids[name])
            done.append(f"stopped {name}")
    # whatever containers remain: their shims and processes, then containerd
    for pid in _shims(scratch):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if "containerd" in pids:
        _stop_pid(*pids["containerd"])
        done.append("stopped containerd")
    kube_proxy = bin_dir() / "kube-proxy"
    if kube_proxy.exists():
        _run(str(kube_proxy), "--cleanup", check=False)
    _remove_kube_chains(state)
    for rule in state.rules:
        binary, table, *spec = rule
        target = spec.pop()
        while _rule(binary, table, "-D", spec, target):
            pass
        done.append(f"removed {binary} {table} {' '.join(spec)} -j {target}")
    for target in _mounts_under(scratch):
        if subprocess.run(["umount", target], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    for br in reversed(state.bridges):
        _run("ip", "link", "del", br, check=False)
        done.append(f"removed bridge {br}")
    for p in _kubepods_cgroups():
        _rmdir_tree(p)
    for name, value in state.sysctls.items():
        if _sysctl_read(name) != value:
            _sysctl_write(name, value)
            done.append(f"restored {name.replace('/', '.')}={value}")
    for path in state.host_paths:
        for target in _mounts_under(path):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    with contextlib.suppress(OSError):
        STATE.unlink()
    _say(log, f"down ({time.monotonic() - t0:.1f} s)")
    return done


def _delete_all_pods(kubeconfig: Path, timeout_s: float = 20.0) -> None:
    """Delete every pod with zero grace, then wait until the kubelet has stopped them (so CNI
    releases every pod's address and veth)."""
    core = _core(kubeconfig)
    for ns in core.list_namespace().items:
        name = ns.metadata.name
        if not (name.startswith("kube-") or name == "default"):
            with contextlib.suppress(Exception):
                core.delete_namespace(name, grace_period_seconds=0)
    for pod in core.list_pod_for_all_namespaces().items:
        with contextlib.suppress(Exception):
            core.delete_namespaced_pod(
                pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
            )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and core.list_pod_for_all_namespaces().items:
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["up"]:
        try:
            c = up(images=args[1:])
        except (MissingDependency, TopologyError) as e:
            print(e, file=sys.stderr)
            return 1
        print(f"up in {c.bringup_s} s; KUBECONFIG={c.kubeconfig}")
        return 0
    if args[:1] == ["down"]:
        for line in down():
            print(line)
        return 0
    print(
        "usage: python -m rpochaos.backends.kubernetes_cluster up [IMAGE...] | down",
        file=sys.stderr,
    )
    return 254


if __name__ == "__main__":
    raise SystemExit(main())
