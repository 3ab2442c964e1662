"""The docker backend: containers on one user-defined network per run.

Per run (``DockerBackend``): one bridge network ``rpochaos-<run id>``; one Toxiproxy container
``rpochaos-<run id>-toxiproxy`` (network alias ``toxiproxy``); and for each node a volume,
a sandbox container that owns its network namespace and the server container that joins it
(``docker_nodes`` says which is what, and how crash, restart and pause map onto them).

Wiring: PostgreSQL listens on 0.0.0.0:5432 in its namespace; the harness reaches it on a port
published on 127.0.0.1 only. Toxiproxy listens on 0.0.0.0:<port> in its container and
reaches nodes as ``<node>:5432``. Its API (8474) and a pool of client-link ports
(20000..20000+N-1) are published on 127.0.0.1; replication links use unpublished ports
(21000...) that replicas reach as ``toxiproxy:<port>``.

Logs: at ``close`` the output of every container (the engine keeps it across restarts) is
written to <run dir>/logs/<node>.log, after the output of the node's one-shot commands.

The parts: ``docker_nodes`` (a node's containers and how each node action maps onto them),
``docker_gc`` (the labels every object carries, removal of a run, ``gc``). Their public names
are importable from here too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rpochaos.backends import engine
from rpochaos.backends.base import Address, Backend, LinkAddress, Node, NodeKind, wait_for_api
from rpochaos.backends.docker_gc import (
    HOST_DIRS,
    LABEL_HOST,
    LABEL_KEEP,
    LABEL_OWNER,
    LABEL_OWNER_START,
    LABEL_ROLE,
    LABEL_RUN,
    LABEL_RUN_DIR,
    LABEL_SESSION,
    _write_host_dirs,
    gc,
    labelled,
    owner_alive,
    remove_host_dirs,
    remove_run,
    session_id,
)
from rpochaos.backends.docker_nodes import (
    DATA_MOUNT,
    DATADIR,
    DB_OS_USER,
    KAFKA_OS_USER,
    KAFKA_PORT,
    PG_PORT,
    DockerNode,
    _free_ports,
    _logs,
)
from rpochaos.backends.local import proc_start as _proc_start
from rpochaos.errors import TopologyError
from rpochaos.proxy import Toxiproxy
from rpochaos.watchdog import Check

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from rpochaos.images import Images

__all__ = [
    "DATADIR",
    "DATA_MOUNT",
    "DB_OS_USER",
    "DEFAULT_HARNESS_PORTS",
    "HARNESS_PORT_BASE",
    "HOST_DIRS",
    "KAFKA_OS_USER",
    "KAFKA_PORT",
    "LABEL_HOST",
    "LABEL_KEEP",
    "LABEL_OWNER",
    "LABEL_OWNER_START",
    "LABEL_ROLE",
    "LABEL_RUN",
    "LABEL_RUN_DIR",
    "LABEL_SESSION",
    "PEER_PORT_BASE",
    "PG_PORT",
    "TOXIPROXY_ALIAS",
    "TOXIPROXY_API_PORT",
    "DockerBackend",
    "DockerNode",
    "_proc_start",
    "gc",
    "labelled",
    "owner_alive",
    "remove_host_dirs",
    "remove_run",
    "session_id",
]

TOXIPROXY_ALIAS = "toxiproxy"
TOXIPROXY_API_PORT = 8474
HARNESS_PORT_BASE = 20000  # client links: published on 127.0.0.1
PEER_PORT_BASE = 21000  # links between nodes: on the run's network only
DEFAULT_HARNESS_PORTS = 8

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# -- the backend ------------------------------------------------------------------------------


@dataclass
class _Proxy:
    container: Container
    api: Address
    harness_ports: list[tuple[int, int]] = field(default_factory=list)  # (container, host)
    #: the host pid of its process and that process's start time (a local engine only)
    host_pid: tuple[int, str] | None = None


class DockerBackend(Backend):
    """One run's network, Toxiproxy container and nodes on a docker engine (see the module
    docstring); ``close`` saves every container's output and, unless ``keep``, removes them."""

    name = "docker"
    host = "127.0.0.1"

    def __init__(
        self,
        run_dir: Path,
        *,
        keep: bool = False,
        images: Images | None = None,
        client: docker.DockerClient | None = None,
        harness_ports: int = DEFAULT_HARNESS_PORTS,
        log: Log = _quiet,
    ) -> None:
        from rpochaos.images import resolve_images

        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.client = client or engine.client()
        self.images = images or resolve_images(client=self.client, log=log)
        self.run_id = uuid.uuid4().hex[:10]
        self.prefix = f"rpochaos-{self.run_id}"
        self.network_name = self.prefix
        self.session = session_id()
        self.harness_ports = harness_ports
        docker_host = os.environ.get("DOCKER_HOST", "")
        self.local_engine = docker_host in ("", "unix:///var/run/docker.sock") or (
            docker_host.startswith("unix://")
        )
        self.closed = False
        self._nodes: dict[str, DockerNode] = {}
        self._proxy: _Proxy | None = None
        self._peer_ports = iter(range(PEER_PORT_BASE, PEER_PORT_BASE + 1000))
        self._lock = threading.Lock()
        self._network_ready = False
        self.shared: list[Path] = []  # host directories bind-mounted into node containers
        self._scratch: list[Path] = []  # host_dir()s: removed at close

    def labels(self, role: str, **extra: str) -> dict[str, str]:
        pid = os.getpid()
        labels = {
            LABEL_RUN: self.run_id,
            LABEL_SESSION: self.session,
            LABEL_OWNER: str(pid),
            LABEL_OWNER_START: _proc_start(pid) or "0",
            LABEL_HOST: socket.gethostname(),
            LABEL_KEEP: "1" if self.keep else "0",
            LABEL_ROLE: role,
            LABEL_RUN_DIR: str(self.run_dir),
        }
        labels.update({f"rpochaos.{k}": v for k, v in extra.items()})
        return labels

    def _ensure_network(self) -> None:
        with self._lock:
            if self.closed:
                raise TopologyError("the docker backend is already closed")
            if not self._network_ready:
                self.client.networks.create(
                    self.network_name, driver="bridge", labels=self.labels("network")
                )
                self._network_ready = True

    # -- the node contract ---------------------------------------------------------------------

    def share_host_dir(self, path: Path) -> None:
        path = path.resolve()
        if not self.local_engine:
            raise TopologyError(f"cannot share {path}: the docker engine is not on this host")
        if path not in self.shared:
            self.shared.append(path)

    def node(
        self, name: str, *, data_dir: Path | None = None, kind: NodeKind = "postgres"
    ) -> DockerNode:
        self._ensure_network()
        if name in self._nodes:
            raise TopologyError(f"node {name!r} exists already in docker run {self.run_id}")
        if name == TOXIPROXY_ALIAS:
            raise TopologyError(f"a node cannot be named {TOXIPROXY_ALIAS!r} on docker")
        node = DockerNode(self, name, kind)
        self._nodes[name] = node
        return node

    def adopt(self, node: DockerNode) -> DockerNode:
        """Count a node made outside ``node`` (a ``DockerNode`` subclass, e.g. a Patroni node)
        as this run's: its output is saved at ``close`` and it is listed by ``kept``."""
        self._ensure_network()
        if node.name in self._nodes or node.name == TOXIPROXY_ALIAS:
            raise TopologyError(f"node {node.name!r} exists already in docker run {self.run_id}")
        self._nodes[node.name] = node
        return node

    def link(self, name: str, dst: Node, *, harness: bool, port: int | None = None) -> LinkAddress:
        if self._proxy is None:
            raise TopologyError(f"link {name}: start the proxy (start_proxy) before any link")
        upstream = str(self.direct(dst, port))
        if harness:
            if not self._proxy.harness_ports:
                raise TopologyError(
                    f"link {name}: all {self.harness_ports} client ports of the Toxiproxy "
                    "container are taken; create DockerBackend(harness_ports=N) with a bigger N"
                )
            inside, outside = self._proxy.harness_ports.pop(0)
            return LinkAddress(
                listen=f"0.0.0.0:{inside}",
                upstream=upstream,
                peer=Address(TOXIPROXY_ALIAS, inside),
                harness=Address("127.0.0.1", outside),
            )
        inside = next(self._peer_ports)
        return LinkAddress(
            listen=f"0.0.0.0:{inside}",
            upstream=upstream,
            peer=Address(TOXIPROXY_ALIAS, inside),
            harness=None,
        )

    def direct(self, dst: Node, port: int | None = None) -> Address:
        return Address(dst.name, port if port is not None else dst.port)

    def host_dir(self, name: str) -> Path:
        """``<run dir>/<name>``, bind-mounted at the same path into every node container
        created afterwards (servers and one-shot commands). Mode 0777: the image's database
        user is not a host user. Removed at ``close`` (through a root container: what the
        node programs wrote there belongs to their uid) unless the topology is kept."""
        path = (self.run_dir / name).resolve()
        path.mkdir(parents=True, exist_ok=False)
        os.chmod(path, 0o777)
        self.share_host_dir(path)
        self._scratch.append(path)
        _write_host_dirs(self.run_dir, self._scratch)
        return path

    def _remove_scratch(self) -> None:
        import docker.errors

        image = self.images.postgres or self.images.kafka or self.images.mariadb
        for path in self._scratch:
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
            if not path.exists():
                continue
            with contextlib.suppress(docker.errors.DockerException):
                self.client.containers.run(
                    image,
                    entrypoint=["rm"],
                    command=["-rf", str(path)],
                    user="root",
                    volumes={str(path.parent): {"bind": str(path.parent), "mode": "rw"}},
                    labels=self.labels("helper"),
                    remove=True,
                )

    def start_proxy(self, timeout_s: float = 30.0) -> Toxiproxy:
        """Start the Toxiproxy container (API and client-link ports published on 127.0.0.1)
        and return a client once its API answers. A start refused because a chosen port was
        taken meanwhile (by another run's container) is tried again with new ports."""
        import docker.errors

        self._ensure_network()
        if self._proxy is not None:
            raise TopologyError(f"docker run {self.run_id} has a Toxiproxy container already")
        for attempt in range(3):  # a published port taken between the choice and the start
            api_port, *outside = _free_ports(1 + self.harness_ports)
            pool = [(HARNESS_PORT_BASE + i, port) for i, port in enumerate(outside)]
            ports: dict[str, tuple[str, int]] = {
                f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", api_port),
                **{f"{inside}/tcp": ("127.0.0.1", port) for inside, port in pool},
            }
            container = self.client.containers.create(
                self.images.toxiproxy,
                entrypoint=["/toxiproxy"],
                command=["-host=0.0.0.0", f"-port={TOXIPROXY_API_PORT}"],
                environment={"LOG_LEVEL": "info"},
                name=f"{self.prefix}-{TOXIPROXY_ALIAS}",
                hostname=TOXIPROXY_ALIAS,
                labels=self.labels("toxiproxy"),
                ports=ports,
                network=self.network_name,
                networking_config={
                    self.network_name: self.client.api.create_endpoint_config(
                        aliases=[TOXIPROXY_ALIAS]
                    )
                },
                detach=True,
            )
            try:
                container.start()
                break
            except docker.errors.APIError as e:
                container.remove(force=True)
                if "port is already allocated" not in str(e) or attempt == 2:
                    raise
        self._proxy = _Proxy(container, Address("127.0.0.1", api_port), pool)

        def alive() -> bool:
            container.reload()
            return container.status in ("created", "running")

        client = wait_for_api(
            Toxiproxy(f"http://127.0.0.1:{api_port}", timeout_s=5.0),
            alive,
            lambda: (
                f"Toxiproxy container {container.name} ({container.status}) did not answer "
                f"on 127.0.0.1:{api_port}\n{_logs(container, tail=20)}"
            ),
            timeout_s,
        )
        if self.local_engine:
            container.reload()
            pid = int(container.attrs.get("State", {}).get("Pid") or 0)
            start = _proc_start(pid) if pid else None
            # only when this process sees the engine's pids (not from inside a container)
            if start is not None and "toxiproxy" in _cmdline(pid):
                self._proxy.host_pid = (pid, start)
        return client

    def signals_processes(self) -> bool:
        return self.local_engine  # container pids are host pids only on a local engine

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "engine": engine.version(self.client),
            "run_id": self.run_id,
            "network": self.network_name,
            "images": {
                k: v
                for k, v in (
                    ("postgres", self.images.postgres),
                    ("kafka", self.images.kafka),
                    ("mariadb", self.images.mariadb),
                    ("toxiproxy", self.images.toxiproxy),
                )
                if v
            },
            "labels": {LABEL_RUN: self.run_id, LABEL_SESSION: self.session},
        }

    def kept(self) -> list[str]:
        lines = [
            f"kept {n.name}: container {n.container_name} "
            + (
                f"(docker exec -it {n.container_name} psql -U rpochaos -d postgres)"
                if n.kind == "postgres" and n.running()
                else f"({'' if n.running() else 'not running; '}docker logs {n.container_name})"
            )
            for n in self._nodes.values()
        ]
        if self._proxy is not None:
            lines.append(f"kept toxiproxy: API http://{self._proxy.api}")
        return lines

    def liveness(self) -> list[Check]:
        """What the watchdog watches of this backend: the engine, then the Toxiproxy
        container. One listing of the run's containers per pass answers both (inspecting a
        container takes ~0.1 s on a loaded engine; the listing is one call for all)."""
        client, flt = self.client, {"label": f"{LABEL_RUN}={self.run_id}"}
        states: dict[str, str] = {}

        def engine_alive() -> bool:
            listing = client.api.containers(all=True, filters=flt)
            states.clear()
            for c in listing:
                for name in c.get("Names") or []:
                    states[str(name).lstrip("/")] = str(c.get("State", ""))
            return True

        checks = [Check("engine", engine_alive, lambda: "the docker engine does not answer")]
        if self._proxy is not None:
            name, host_pid = str(self._proxy.container.name), self._proxy.host_pid

            def proxy_alive() -> bool:
                # a local engine: the process itself, at once (the engine reports a killed
                # container only some 0.1-0.8 s later); else the engine's listing
                if host_pid is not None and _proc_start(host_pid[0]) != host_pid[1]:
                    states[name] = f"gone (its process {host_pid[0]} exited)"
                    return False
                return states.get(name) == "running"

            checks.append(
                Check(
                    "toxiproxy",
                    proxy_alive,
                    lambda: f"the Toxiproxy container {name} is {states.get(name, 'gone')}",
                )
            )
        return checks

    def save_logs(self) -> None:
        """Write every container's output to <run dir>/logs/<name>.log."""
        for n in self._nodes.values():
            with contextlib.suppress(Exception):
                n._save_log()
        if self._proxy is not None:
            with contextlib.suppress(Exception):
                text = _logs(self._proxy.container)
                with open(self.logs / f"{TOXIPROXY_ALIAS}.log", "a") as f:
                    f.write(text)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.save_logs()
        if self.keep:
            return
        remove_run(self.client, self.run_id)
        self._remove_scratch()
