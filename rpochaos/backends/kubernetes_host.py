"""The host side of the Kubernetes test cluster: what it changes here, recorded to be undone.

``kubernetes_cluster`` uses it; here are the few tools that make and undo those changes.

``State`` is written to ``STATE`` (a file under /run) as each change is made: the child
processes (pid and start time, so a reused pid is never signalled), the sysctl values found
before the kubelet and kube-proxy changed them, the fixed host paths that did not exist, the
bridges, the iptables rules added, the iptables chains that existed before. ``dropped_packets``
reads the pod bridge's outbound DROP counters.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rpochaos.errors import TopologyError

STATE = Path("/run/rpochaos-k8s-cluster.json")
POD_BRIDGE = "cni0"
RULE_COMMENT = "rpochaos-k8s"
#: every sysctl the kubelet or kube-proxy may change; saved before, restored after
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
#: fixed paths the kubelet and the CNI plugins write whatever their configuration says
HOST_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/var/lib/cni")
#: dropping what a pod sends anywhere but to another pod; letting pods reach each other
DROP_RULE = ["FORWARD", "-i", POD_BRIDGE, "!", "-o", POD_BRIDGE]
ACCEPT_RULE = ["FORWARD", "-i", POD_BRIDGE, "-o", POD_BRIDGE]


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


def proc_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def run(*argv: str, check: bool = True, timeout: float = 60) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise TopologyError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- host state: sysctls, iptables, bridges, mounts -------------------------------------------


def sysctl_read(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def sysctl_write(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value)


def chains(binary: str, table: str) -> list[str]:
    out = run(f"{binary}-save", "-t", table, check=False)
    return [line[1:].split()[0] for line in out.splitlines() if line.startswith(":")]


def rule(binary: str, table: str, op: str, rule: list[str], target: str) -> bool:
    argv = [binary, "-w", "5", "-t", table, op, *rule, "-m", "comment", "--comment", RULE_COMMENT]
    if op == "-I":
        argv.insert(argv.index("-I") + 2, "1")
    return subprocess.run([*argv, "-j", target], capture_output=True, check=False).returncode == 0


def dropped_packets() -> int:
    """The packet counters of the pod bridge's outbound DROP rules (v4 + v6), 0 when absent."""
    total = 0
    for binary in ("iptables", "ip6tables"):
        out = run(binary, "-w", "5", "-t", "mangle", "-L", "FORWARD", "-v", "-x", "-n",
                   check=False)  # fmt: skip
        for line in out.splitlines():
            if RULE_COMMENT in line and "DROP" in line:
                total += int(line.split()[0])
    return total


def remove_kube_chains(state: State) -> None:
    """Delete every rule that jumps to a KUBE-* chain made by the cluster, then those chains."""
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            before = set(state.chains_before.get(f"{binary}/{table}", []))
            ours = [c for c in chains(binary, table) if c.startswith("KUBE-") and c not in before]
            if not ours:
                continue
            save = run(f"{binary}-save", "-t", table, check=False)
            for line in save.splitlines():
                parts = shlex.split(line)
                jumps = {parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "-j"}
                if (
                    len(parts) > 2
                    and parts[0] == "-A"
                    and parts[1] not in ours
                    and jumps & set(ours)
                ):
                    run(binary, "-w", "5", "-t", table, "-D", *parts[1:], check=False)
            for c in ours:
                run(binary, "-w", "5", "-t", table, "-F", c, check=False)
            for c in ours:
                run(binary, "-w", "5", "-t", table, "-X", c, check=False)


def mounts_under(root: str) -> list[str]:
    out = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == root or target.startswith(root.rstrip("/") + "/"):
                out.append(target)
    return sorted(out, key=len, reverse=True)


def kubepods_cgroups() -> list[Path]:
    found = []
    root = Path("/sys/fs/cgroup")
    for ctl in root.iterdir() if root.is_dir() else []:
        p = ctl / "kubepods"
        if p.is_dir():
            found.append(p)
    return found


def rmdir_tree(path: Path) -> None:
    for d in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                    reverse=True):  # fmt: skip
        with contextlib.suppress(OSError):
            d.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


# -- processes --------------------------------------------------------------------------------


def start(state: State, name: str, argv: list[str], logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    p = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    state.pids[name] = [p.pid, int(proc_start(p.pid) or 0)]
    state.save()
    return p


def alive(pid: int, start: int) -> bool:
    s = proc_start(pid)
    return s is not None and (start == 0 or int(s) == start)


def stop_pid(pid: int, start: int, timeout_s: float = 10.0) -> None:
    if not alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive(pid, start):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)


def shims(scratch: str) -> list[int]:
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


def wait(what: str, timeout_s: float, probe: Callable[[], bool], logs: Path, log_name: str) -> None:
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
