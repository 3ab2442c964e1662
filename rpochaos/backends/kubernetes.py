"""The kubernetes backend: one labelled namespace per run, one pod per node, Toxiproxy in a pod.

Per run (``KubernetesBackend``), on the cluster the kubeconfig reaches
($RPOCHAOS_KUBECONFIG, else $KUBECONFIG, else ~/.kube/config; context $RPOCHAOS_KUBE_CONTEXT):

- a namespace ``rpochaos-<run id>`` (or $RPOCHAOS_KUBE_NAMESPACE), labelled with the run and
  its owner (``kubernetes_api.LABELS``), created by the run and deleted at its end;
- for each node, a bare pod ``<node>`` whose one container only keeps the pod alive (a shell
  loop, PID 1 of the container, that also reaps orphans) and a NodePort Service ``<node>``
  (5432). Every program of the node (initdb, pg_basebackup, the server) runs in that container
  through ``exec``, as the image's database user (the pod's ``runAsUser``); the data directory
  is an emptyDir at /var/lib/rpochaos/data;
- a Toxiproxy pod ``toxiproxy`` with a ClusterIP Service ``toxiproxy`` (the links between
  nodes: ports 21000...) and a NodePort Service ``toxiproxy-harness`` (its API 8474 and the
  client links 20000...).

Wiring: the harness reaches NodePorts on $RPOCHAOS_KUBE_NODE_HOST (default 127.0.0.1: the
project's test cluster serves NodePorts on loopback); nodes and Toxiproxy reach each other by
Service ClusterIPs, so no DNS lookup is needed.

Node faults: crash = ``kill -9 -1`` run in the node's container: the kernel sends SIGKILL to
every process of the database user there except PID 1 (the keeper) at once, so the
postmaster and every backend die together with no flush; the pod, its address and its
Service stay, so peers get a refused connection at once, as on docker. Restart = start the
server again in the same container (same emptyDir). Pause/resume = ``kill -STOP/-CONT -1``.
No host directory is shared with the pods, so scenarios that need one (a WAL archive, the
node shim's io_stall and clock_skew) are refused at set-up.

Images: $RPOCHAOS_PG_IMAGE / $RPOCHAOS_TOXIPROXY_IMAGE or the given names, default the local
builds rpochaos/postgres:15 and rpochaos/toxiproxy:2.12.0, with imagePullPolicy Never
($RPOCHAOS_KUBE_PULL_POLICY): the cluster's runtime must have them (the test cluster imports
them with ``ctr images import``); nothing is pulled unless asked.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from rpochaos.backends import kubernetes_api as kapi
from rpochaos.backends.base import (
    Address,
    Backend,
    LinkAddress,
    Node,
    NodeKind,
    append_log,
    checked_output,
    wait_for_api,
)
from rpochaos.errors import TopologyError
from rpochaos.proxy import Toxiproxy

DATA_MOUNT = "/var/lib/rpochaos"
DATADIR = f"{DATA_MOUNT}/data"
SERVER_LOG = f"{DATA_MOUNT}/server.log"
SERVER_PID = f"{DATA_MOUNT}/server.pid"
PG_PORT = 5432
TOXIPROXY = "toxiproxy"
TOXIPROXY_API_PORT = 8474
HARNESS_PORT_BASE = 20000
PEER_PORT_BASE = 21000
HARNESS_PORTS = 8
PEER_PORTS = 16
NODE_HOST_ENV = "RPOCHAOS_KUBE_NODE_HOST"
PULL_POLICY_ENV = "RPOCHAOS_KUBE_PULL_POLICY"
LOCAL_PG_IMAGE = "rpochaos/postgres:15"
LOCAL_TOXIPROXY_IMAGE = "rpochaos/toxiproxy:2.12.0"
#: the keeper: PID 1 of a node's container; it reaps what the server leaves behind
KEEPER = "trap 'exit 0' TERM INT; while :; do sleep 1 & wait $!; done"

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _db_ids(image: str) -> tuple[int, int]:
    """The (uid, gid) of the database user in ``image``: rpochaos/postgres has 100:102, the
    official postgres image 999:999; $RPOCHAOS_KUBE_PG_UID / _GID override."""
    uid, gid = (100, 102) if "rpochaos/postgres" in image else (999, 999)
    return int(os.environ.get("RPOCHAOS_KUBE_PG_UID", uid)), int(
        os.environ.get("RPOCHAOS_KUBE_PG_GID", gid)
    )


class KubernetesNode(Node):
    """A node as a pod (see the module docstring for how each action maps)."""

    listen_host = "*"
    datadir = DATADIR
    hba_hosts = ("0.0.0.0/0",)  # pods and the harness come in from the pod network

    def __init__(self, backend: KubernetesBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.kind: NodeKind = "postgres"
        self.port = PG_PORT
        self.pod = kapi.dns_name(name)
        self._created = False
        self._running = False  # the pod's container has been seen running
        self._cluster_ip = ""
        self.address = Address(backend.node_host, 0)
        self._lock = threading.Lock()

    def program(self, name: str) -> str:
        return name

    def more_ports(self, count: int) -> list[int]:
        raise TopologyError("the kubernetes backend runs PostgreSQL nodes only (for now)")

    def ensure(self) -> None:
        """Create the pod and its Service once (``node`` does, so the pods of a run start
        together); the first exec waits until the pod runs."""
        with self._lock:
            if self._created:
                return
            b = self.backend
            uid, gid = _db_ids(b.pg_image)
            b.api.create_pod(
                self.pod,
                image=b.pg_image,
                command=["sh", "-c", KEEPER],
                labels=b.labels("node", node=self.pod),
                uid=uid,
                gid=gid,
                volume_mount=DATA_MOUNT,
                pull_policy=b.pull_policy,
            )
            svc = b.api.create_service(
                self.pod,
                selector={kapi.LABEL_NODE: self.pod},
                ports={"pg": PG_PORT},
                node_port=True,
                labels=b.labels("service"),
            )
            self._cluster_ip = svc.cluster_ip
            self.address = Address(b.node_host, svc.node_ports["pg"])
            self._created = True

    def _wait_running(self) -> None:
        with self._lock:
            if not self._running:
                self.backend.api.wait_running(self.pod, timeout_s=120)
                self._running = True

    @property
    def cluster_ip(self) -> str:
        self.ensure()
        return self._cluster_ip

    def _exec(self, argv: list[str], timeout_s: float = 30.0) -> tuple[int, str]:
        self.ensure()
        self._wait_running()
        return self.backend.api.exec(self.pod, argv, timeout_s=timeout_s)

    def _sh(self, script: str, *args: str, timeout_s: float = 30.0) -> tuple[int, str]:
        return self._exec(["sh", "-c", script, "sh", *args], timeout_s=timeout_s)

    def prepare(self) -> None:
        code, out = self._exec(["install", "-d", "-m", "0700", DATADIR])
        if code != 0:
            raise TopologyError(f"creating the data directory of {self.name} failed: {out}")

    def run(self, argv: list[str], *, timeout_s: float, what: str) -> str:
        code, out = self._exec(argv, timeout_s=timeout_s)
        return checked_output(self.backend.logs / f"{self.name}.log", argv, what, code, out)

    def _append_log(self, text: str) -> None:
        append_log(self.backend.logs / f"{self.name}.log", text)

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        if self.backend.closed:
            raise TopologyError(f"cannot start {self.name}: the backend is already closed")
        assigns = [f"{k}={v}" for k, v in (env or {}).items()]
        script = (
            f'cd {DATA_MOUNT} && env LANG=C.UTF-8 "$@" >> {SERVER_LOG} 2>&1 < /dev/null & '
            f"echo $! > {SERVER_PID}"
        )
        code, out = self._sh(script, *assigns, *argv)
        if code != 0:
            raise TopologyError(f"{self.name}: the server did not start: {out}")

    def _alive(self) -> bool:
        """The server's process exists and is not a zombie (asked in the pod)."""
        code, _ = self._sh(
            f'p=$(cat {SERVER_PID} 2>/dev/null) && [ -n "$p" ] && [ -r /proc/$p/stat ] && '
            "! grep -q '^[0-9]* ([^)]*) Z' /proc/$p/stat"
        )
        return code == 0

    def running(self) -> bool:
        if not self._created:
            return False
        # cheap first: a server that accepts connections runs (a paused one too: the kernel
        # completes the handshake); only otherwise ask the pod
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.address.host, self.address.port), timeout=0.5),
        ):
            return True
        return self._alive()

    def kill(self) -> None:
        if not self._created:
            return
        self._sh("kill -CONT -1 2>/dev/null; kill -KILL -1 2>/dev/null; true")
        self._wait_exit(10.0)

    def _wait_exit(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._alive():
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout_s: float = 10.0, sig: int = 15) -> None:
        if not self._created or not self._alive():
            return
        self._sh(f'kill -CONT -1 2>/dev/null; kill -{int(sig)} "$(cat {SERVER_PID})"; true')
        if not self._wait_exit(timeout_s):
            self.kill()

    def pause(self) -> None:
        if self._created:
            self._sh("kill -STOP -1 2>/dev/null; true")

    def resume(self) -> None:
        if self._created:
            self._sh("kill -CONT -1 2>/dev/null; true")

    def log_tail(self, lines: int = 20) -> str:
        if not self._created:
            return "(not started)"
        with contextlib.suppress(TopologyError):
            _, out = self._exec(["tail", "-n", str(lines), SERVER_LOG], timeout_s=10)
            return out or "(no output)"
        return "(no log)"

    def save_log(self) -> None:
        if not self._created:
            return
        with contextlib.suppress(TopologyError):
            code, out = self._exec(["cat", SERVER_LOG], timeout_s=30)
            if code == 0 and out:
                self._append_log(f"--- server: pod {self.pod} ---\n{out}")


class KubernetesBackend(Backend):
    """One run's namespace, Toxiproxy pod and node pods (see the module docstring); ``close``
    saves the logs and, unless ``keep``, deletes the namespace."""

    name = "kubernetes"

    def __init__(
        self,
        run_dir: Path,
        *,
        keep: bool = False,
        postgres_image: str | None = None,
        toxiproxy_image: str | None = None,
        api: kapi.Api | None = None,
        namespace: str | None = None,
        log: Log = _quiet,
    ) -> None:
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.log = log
        self.run_id = uuid.uuid4().hex[:10]
        self.namespace = (
            namespace or os.environ.get(kapi.NAMESPACE_ENV) or f"rpochaos-{self.run_id}"
        )
        self.api = api or kapi.Api.from_env(self.namespace)
        self.api.namespace = self.namespace
        self.node_host = os.environ.get(NODE_HOST_ENV) or "127.0.0.1"
        self.host = self.node_host
        self.pg_image = postgres_image or os.environ.get("RPOCHAOS_PG_IMAGE") or LOCAL_PG_IMAGE
        self.toxiproxy_image = (
            toxiproxy_image or os.environ.get("RPOCHAOS_TOXIPROXY_IMAGE") or LOCAL_TOXIPROXY_IMAGE
        )
        self.pull_policy = os.environ.get(PULL_POLICY_ENV) or "Never"
        self.closed = False
        self._nodes: dict[str, KubernetesNode] = {}
        self._lock = threading.Lock()
        self._ns_ready = False
        self._proxy_ip = ""
        self._harness_ports: list[tuple[int, int]] = []  # (in the pod, NodePort)
        self._peer_ports = iter(range(PEER_PORT_BASE, PEER_PORT_BASE + PEER_PORTS))

    def labels(self, role: str, **extra: str) -> dict[str, str]:
        return kapi.run_labels(self.run_id, keep=self.keep, role=role, **extra)

    def _ensure_namespace(self) -> None:
        with self._lock:
            if self.closed:
                raise TopologyError("the kubernetes backend is already closed")
            if not self._ns_ready:
                self.api.create_namespace(
                    self.labels("namespace"), {kapi.ANN_RUN_DIR: str(self.run_dir)}
                )
                self._ns_ready = True

    def node(
        self, name: str, *, data_dir: Path | None = None, kind: NodeKind = "postgres"
    ) -> KubernetesNode:
        if kind != "postgres":
            raise TopologyError("the kubernetes backend runs PostgreSQL nodes only (for now)")
        self._ensure_namespace()
        if name in self._nodes or kapi.dns_name(name) in (TOXIPROXY, f"{TOXIPROXY}-harness"):
            raise TopologyError(f"node name {name!r} is taken in kubernetes run {self.run_id}")
        node = KubernetesNode(self, name)
        self._nodes[name] = node
        node.ensure()
        return node

    def link(self, name: str, dst: Node, *, harness: bool, port: int | None = None) -> LinkAddress:
        if not self._proxy_ip:
            raise TopologyError(f"link {name}: start the proxy (start_proxy) before any link")
        upstream = str(self.direct(dst, port))
        if harness:
            if not self._harness_ports:
                raise TopologyError(f"link {name}: all {HARNESS_PORTS} client ports are taken")
            inside, node_port = self._harness_ports.pop(0)
            return LinkAddress(
                listen=f"0.0.0.0:{inside}",
                upstream=upstream,
                peer=Address(self._proxy_ip, inside),
                harness=Address(self.node_host, node_port),
            )
        try:
            inside = next(self._peer_ports)
        except StopIteration:
            raise TopologyError(f"link {name}: all {PEER_PORTS} peer ports are taken") from None
        return LinkAddress(
            listen=f"0.0.0.0:{inside}",
            upstream=upstream,
            peer=Address(self._proxy_ip, inside),
            harness=None,
        )

    def direct(self, dst: Node, port: int | None = None) -> Address:
        if not isinstance(dst, KubernetesNode):
            raise TopologyError(f"{dst.name} is not a node of this kubernetes run")
        return Address(dst.cluster_ip, port if port is not None else dst.port)

    def host_dir(self, name: str) -> Path:
        raise TopologyError(
            f"the kubernetes backend shares no host directory with its pods ({name!r} was "
            "asked for): WAL archives and base backups run on local or docker for now"
        )

    def share_host_dir(self, path: Path) -> None:
        raise TopologyError(
            f"the kubernetes backend shares no host directory with its pods ({path}): "
            "io_stall and clock_skew run on local or docker for now"
        )

    def start_proxy(self, timeout_s: float = 30.0) -> Toxiproxy:
        """Start the Toxiproxy pod and its two Services; return a client once its API
        answers through the NodePort."""
        self._ensure_namespace()
        if self._proxy_ip:
            raise TopologyError(f"kubernetes run {self.run_id} has a Toxiproxy pod already")
        harness = {f"h{i}": HARNESS_PORT_BASE + i for i in range(HARNESS_PORTS)}
        peers = {f"p{i}": PEER_PORT_BASE + i for i in range(PEER_PORTS)}
        self.api.create_pod(
            TOXIPROXY,
            image=self.toxiproxy_image,
            command=["/toxiproxy"],
            args=["-host=0.0.0.0", f"-port={TOXIPROXY_API_PORT}"],
            labels=self.labels("toxiproxy", node=TOXIPROXY),
            pull_policy=self.pull_policy,
        )
        inner = self.api.create_service(
            TOXIPROXY,
            selector={kapi.LABEL_NODE: TOXIPROXY},
            ports={"api": TOXIPROXY_API_PORT, **harness, **peers},
            node_port=False,
            labels=self.labels("service"),
        )
        outer = self.api.create_service(
            f"{TOXIPROXY}-harness",
            selector={kapi.LABEL_NODE: TOXIPROXY},
            ports={"api": TOXIPROXY_API_PORT, **harness},
            node_port=True,
            labels=self.labels("service"),
        )
        self.api.wait_running(TOXIPROXY, timeout_s=120)
        self._proxy_ip = inner.cluster_ip
        self._harness_ports = [(harness[k], outer.node_ports[k]) for k in sorted(harness)]
        api = Address(self.node_host, outer.node_ports["api"])
        return wait_for_api(
            Toxiproxy(f"http://{api}", timeout_s=5.0),
            lambda: self.api.pod_phase(TOXIPROXY) in ("Pending", "Running"),
            lambda: f"the Toxiproxy pod ({self.api.pod_phase(TOXIPROXY)}) did not answer on {api}",
            timeout_s,
        )

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "server": self.api.server_version(),
            "namespace": self.namespace,
            "run_id": self.run_id,
            "images": {"postgres": self.pg_image, "toxiproxy": self.toxiproxy_image},
            "labels": {kapi.LABEL_RUN: self.run_id},
        }

    def kept(self) -> list[str]:
        return [
            f"kept {n.name}: pod {n.pod} in namespace {self.namespace} "
            f"(kubectl -n {self.namespace} exec -it {n.pod} -- psql -U rpochaos -d postgres)"
            for n in self._nodes.values()
        ]

    def save_logs(self) -> None:
        for n in self._nodes.values():
            with contextlib.suppress(Exception):
                n.save_log()
        if self._proxy_ip:
            with contextlib.suppress(Exception):
                text = self.api.pod_log(TOXIPROXY)
                with open(self.logs / f"{TOXIPROXY}.log", "a") as f:
                    f.write(text)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if not self._ns_ready:
            return
        self.save_logs()
        if self.keep:
            return
        self.api.delete_namespace(self.namespace)


def shell_quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
