"""The docker backend: containers on one user-defined network per run.

Per run (``DockerBackend``): one bridge network ``rpochaos-<run id>``; one Toxiproxy container
``rpochaos-<run id>-toxiproxy`` (network alias ``toxiproxy``); and for each node

- a volume ``rpochaos-<run id>-<node>``: the data directory /var/lib/rpochaos/data;
- a *sandbox* container ``rpochaos-<run id>-<node>-net`` that only sleeps and owns the node's
  network namespace: the alias ``<node>``, its address, its published port (like the pause
  container of a Kubernetes pod);
- the server container ``rpochaos-<run id>-<node>``, which joins the sandbox's namespace
  (``network_mode=container:...``) and whose main process (PID 1) is the postmaster.

Every container, network and volume carries the labels

    rpochaos.run=<run id>            rpochaos.session=<host>-<pid>-<start>
    rpochaos.owner_pid=<pid>         rpochaos.owner_start=<start time of that pid>
    rpochaos.host=<hostname>         rpochaos.keep=0|1
    rpochaos.role=node|sandbox|helper|toxiproxy|network|volume       rpochaos.run_dir=<dir>

Wiring: PostgreSQL listens on 0.0.0.0:5432 in its namespace; the harness reaches it on a port
published on 127.0.0.1 only. Toxiproxy listens on 0.0.0.0:<port> in its container and
reaches nodes as ``<node>:5432``. Its API (8474) and a pool of client-link ports
(20000..20000+N-1) are published on 127.0.0.1; replication links use unpublished ports
(21000...) that replicas reach as ``toxiproxy:<port>``.

Node recipes never use an image's entrypoint, so they work with the official ``postgres``
image and with ``rpochaos/postgres:15``: one-shot commands (creating the data directory,
initdb, pg_basebackup) run in short-lived helper containers of the node's image, with the
node's volume, on the run's network, as the ``postgres`` user (root only to create the
directory); the server container runs ``postgres`` with explicit arguments as ``postgres``.

Crash = ``docker kill`` (SIGKILL) of the server container: the postmaster is PID 1 of the
container's PID namespace, and when PID 1 dies the kernel SIGKILLs every other process in
the namespace, so every backend dies at the same instant, with no shutdown and no flush. The
sandbox keeps the node's address alive, so peers get a refused connection or a reset at
once, exactly as when a process dies on a live host (without it, the address vanishes and
every connection attempt to it hangs for seconds, which also stalls Toxiproxy's accept loop).
Whether the node's links die too is the topology's ``cut_links``, as on the local backend.
Restart = ``docker start`` of the same container: same data, PostgreSQL runs crash recovery
(postmaster.pid names PID 1, i.e. itself, which it treats as stale). A paused container is
thawed right before the kill (the engine refuses to kill a frozen one). Pause = ``docker
pause``: the cgroup freezer stops every process of the node at once; its sockets stay open
and peers see silence, not a reset.

Logs: at ``close`` the output of every container (the engine keeps it across restarts) is
written to <run dir>/logs/<node>.log, after the output of the node's one-shot commands.

Cleanup: ``close`` removes the run's containers (with their anonymous volumes), network and
volumes, all found by the ``rpochaos.run`` label, unless the topology is kept. ``gc``
removes everything of runs whose owner process is gone (pid *and* start time, this host);
with ``force``, of the runs under one runs root (by their ``rpochaos.run_dir`` label) or of
one run id, whoever owns them: never every run on the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpochaos.backends import engine
from rpochaos.backends.base import Address, Backend, LinkAddress, Node, NodeKind, wait_for_api
from rpochaos.backends.local import proc_start as _proc_start
from rpochaos.errors import MissingDependency, TopologyError
from rpochaos.proxy import Toxiproxy
from rpochaos.watchdog import Check

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from rpochaos.images import Images

LABEL_RUN = "rpochaos.run"
LABEL_SESSION = "rpochaos.session"
LABEL_OWNER = "rpochaos.owner_pid"
LABEL_OWNER_START = "rpochaos.owner_start"
LABEL_HOST = "rpochaos.host"
LABEL_KEEP = "rpochaos.keep"
LABEL_ROLE = "rpochaos.role"
LABEL_RUN_DIR = "rpochaos.run_dir"

DATA_MOUNT = "/var/lib/rpochaos"
DATADIR = f"{DATA_MOUNT}/data"
PG_PORT = 5432
DB_OS_USER = "postgres"
KAFKA_PORT = 9092  # a Kafka node's client listener; its other listeners take the next ports
KAFKA_OS_USER = "appuser"  # the official apache/kafka image's user (rpochaos/kafka has it too)
TOXIPROXY_ALIAS = "toxiproxy"
TOXIPROXY_API_PORT = 8474
HARNESS_PORT_BASE = 20000  # client links: published on 127.0.0.1
PEER_PORT_BASE = 21000  # links between nodes: on the run's network only
DEFAULT_HARNESS_PORTS = 8

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- who owns what ----------------------------------------------------------------------------


def owner_alive(labels: Mapping[str, str]) -> bool:
    """True when the process that created a labelled object still runs."""
    try:
        pid = int(labels.get(LABEL_OWNER, "0"))
    except ValueError:
        return False
    if pid <= 0:
        return False
    start = _proc_start(pid)
    return start is not None and start == labels.get(LABEL_OWNER_START, start)


def session_id() -> str:
    """This process's session id: one per harness process (a pytest session, a CLI run)."""
    pid = os.getpid()
    return f"{socket.gethostname()}-{pid}-{_proc_start(pid) or 0}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "cmd"


# -- nodes ------------------------------------------------------------------------------------


class DockerNode(Node):
    """A node as a container. See the module docstring for how each action maps."""

    listen_host = "*"
    datadir = DATADIR
    hba_hosts = ("samenet",)

    def __init__(self, backend: DockerBackend, name: str, kind: NodeKind = "postgres") -> None:
        self.backend = backend
        self.name = name
        self.kind = kind
        kafka = kind == "kafka"
        self.port = KAFKA_PORT if kafka else PG_PORT
        self.user = KAFKA_OS_USER if kafka else DB_OS_USER
        self.image = backend.images.kafka if kafka else backend.images.postgres
        if not self.image:
            raise TopologyError(f"{name}: the docker backend was made without a {kind} image")
        self._next_port = self.port + 1
        self.container_name = f"{backend.prefix}-{name}"
        self.volume_name = self.container_name
        self.address = Address("127.0.0.1", _free_port())
        self.container: Container | None = None
        self.sandbox: Container | None = None
        self._argv: list[str] | None = None
        self._env: dict[str, str] = {}
        self._helpers = 0
        self._lock = threading.Lock()

    # programs are on PATH in the official images and in ours
    def program(self, name: str) -> str:
        return name

    def more_ports(self, count: int) -> list[int]:
        # the node has its own network namespace: any port above its own is free
        ports = list(range(self._next_port, self._next_port + count))
        self._next_port += count
        return ports

    def _volume(self) -> None:
        import docker.errors

        try:
            self.backend.client.volumes.get(self.volume_name)
        except docker.errors.NotFound:
            self.backend.client.volumes.create(
                self.volume_name, labels=self.backend.labels("volume")
            )

    def prepare(self) -> None:
        self._volume()
        self._one_shot(
            ["install", "-d", "-o", self.user, "-g", self.user, "-m", "0700", DATADIR],
            user="root",
            timeout_s=60,
            what=f"creating the data directory of {self.name}",
        )

    def run(self, argv: list[str], *, timeout_s: float, what: str) -> str:
        self._volume()
        return self._one_shot(argv, user=self.user, timeout_s=timeout_s, what=what)

    def _one_shot(self, argv: list[str], *, user: str, timeout_s: float, what: str) -> str:
        """Run ``argv`` in a helper container (node image, node volume, run network)."""
        import docker.errors
        import requests

        b = self.backend
        self._helpers += 1
        c = b.client.containers.create(
            self.image,
            command=argv[1:],
            entrypoint=argv[:1],
            user=user,
            name=f"{self.container_name}-{self._helpers}-{_slug(argv[0].rsplit('/', 1)[-1])}",
            labels=b.labels("helper"),
            volumes={
                self.volume_name: {"bind": DATA_MOUNT, "mode": "rw"},
                **{str(p): {"bind": str(p), "mode": "rw"} for p in b.shared},
            },
            network=b.network_name,
            environment={"HOME": "/tmp", "LANG": "C.UTF-8"},
            detach=True,
        )
        try:
            c.start()
            try:
                code = int(c.wait(timeout=timeout_s).get("StatusCode", -1))
            except (requests.exceptions.RequestException, docker.errors.APIError) as e:
                with contextlib.suppress(docker.errors.APIError):
                    c.kill()
                out = _logs(c)
                self._append_log(f"--- {what} (timed out) ---\n{out}")
                raise TopologyError(
                    f"{what} did not finish within {timeout_s:g} s: {' '.join(argv)}\n{out[-2000:]}"
                ) from e
            out = _logs(c)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True, v=True)
        self._append_log(f"--- {what}: {' '.join(argv)} (exit {code}) ---\n{out}")
        if code != 0:
            raise TopologyError(f"{what} failed (exit {code}): {' '.join(argv)}\n{out[-2000:]}")
        return out

    def _append_log(self, text: str) -> None:
        with open(self.backend.logs / f"{self.name}.log", "a") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        import docker.errors

        b = self.backend
        want_env = dict(env or {})
        with self._lock:
            if b.closed:
                raise TopologyError(f"cannot start {self.name}: the backend is already closed")
            if self.container is not None and (argv != self._argv or want_env != self._env):
                self._save_log()  # a new command line needs a new container
                _remove(self.container)
                self.container = None
            if self.container is None:
                self._volume()
                sandbox = self._ensure_sandbox()
                self.container = b.client.containers.create(
                    self.image,
                    command=argv[1:],
                    entrypoint=argv[:1],
                    user=self.user,
                    name=self.container_name,
                    labels=b.labels("node", node=self.name),
                    volumes={
                        self.volume_name: {"bind": DATA_MOUNT, "mode": "rw"},
                        **{str(p): {"bind": str(p), "mode": "rw"} for p in b.shared},
                    },
                    network_mode=f"container:{sandbox.id}",
                    environment={"LANG": "C.UTF-8", **want_env},
                    stop_signal="SIGTERM" if self.kind == "kafka" else "SIGINT",
                    detach=True,
                )
                self._argv, self._env = list(argv), want_env
            try:
                self.container.start()
            except docker.errors.APIError as e:
                raise TopologyError(
                    f"{self.name}: container {self.container_name} did not start: {e}\n"
                    f"{self.log_tail()}"
                ) from e

    def _ensure_sandbox(self) -> Container:
        """The node's network holder: a container that only sleeps, owning the node's network
        namespace (alias, address, published port), like a Kubernetes pod's sandbox. The
        server container joins it, so a crash of the server leaves the address alive:
        connections to it are refused at once, as on a host whose process died."""
        b = self.backend
        if self.sandbox is None:
            self.sandbox = b.client.containers.create(
                self.image,
                entrypoint=["sleep"],
                command=["2147483647"],  # busybox (Alpine-based images) has no 'infinity'
                name=f"{self.container_name}-net",
                hostname=self.name,
                labels=b.labels("sandbox", node=self.name),
                ports={f"{self.port}/tcp": ("127.0.0.1", self.address.port)},
                network=b.network_name,
                networking_config={
                    b.network_name: b.client.api.create_endpoint_config(aliases=[self.name])
                },
                detach=True,
            )
        self.sandbox.reload()
        if self.sandbox.status != "running":
            self.sandbox.start()
        return self.sandbox

    def _state(self) -> str | None:
        """The container's status ('running', 'paused', 'exited', ...), None when gone."""
        import docker.errors

        if self.container is None:
            return None
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return None
        return str(self.container.status)

    def running(self) -> bool:
        return self._state() in ("running", "paused", "restarting")

    def kill(self) -> None:
        import docker.errors

        state = self._state()
        if self.container is None or state is None:
            return
        with contextlib.suppress(docker.errors.APIError):
            if state == "paused":
                self.container.unpause()
            if state in ("running", "paused", "restarting"):
                self.container.kill()  # SIGKILL to PID 1: the whole PID namespace dies
        self._wait_exit(10.0)

    def _wait_exit(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
        import docker.errors

        state = self._state()
        if self.container is None or state not in ("running", "paused", "restarting"):
            return
        try:
            if state == "paused":
                self.container.unpause()
            self.container.kill(signal=int(sig))
        except docker.errors.APIError:
            pass
        if not self._wait_exit(timeout_s):
            self.kill()

    def pause(self) -> None:
        import docker.errors

        if self._state() == "running" and self.container is not None:
            with contextlib.suppress(docker.errors.APIError):
                self.container.pause()

    def resume(self) -> None:
        import docker.errors

        if self._state() == "paused" and self.container is not None:
            with contextlib.suppress(docker.errors.APIError):
                self.container.unpause()

    def log_tail(self, lines: int = 20) -> str:
        if self.container is None:
            return "(not started)"
        return _logs(self.container, tail=lines) or "(no output)"

    @property
    def pid(self) -> int | None:
        if self._state() != "running" or self.container is None or not self.backend.local_engine:
            return None
        pid = int(self.container.attrs.get("State", {}).get("Pid") or 0)
        return pid or None

    def _save_log(self) -> None:
        if self.container is not None:
            text = _logs(self.container)
            if text:
                self._append_log(f"--- server: {self.container_name} ---\n{text}")


def _logs(c: Container, tail: int | None = None) -> str:
    import docker.errors

    try:
        raw = c.logs(stdout=True, stderr=True, tail=tail if tail is not None else "all")
    except docker.errors.APIError as e:
        return f"(no logs: {e})"
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _remove(c: Container) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.APIError):
        c.remove(force=True, v=True)  # v: anonymous volumes (the official image's VOLUME)


# -- the backend ------------------------------------------------------------------------------


@dataclass
class _Proxy:
    container: Container
    api: Address
    harness_ports: list[tuple[int, int]] = field(default_factory=list)  # (container, host)
    #: the host pid of its process and that process's start time (a local engine only)
    host_pid: tuple[int, str] | None = None


class DockerBackend(Backend):
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

        image = self.images.postgres or self.images.kafka
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
        and return a client once its API answers."""
        self._ensure_network()
        if self._proxy is not None:
            raise TopologyError(f"docker run {self.run_id} has a Toxiproxy container already")
        api_port = _free_port()
        pool = [(HARNESS_PORT_BASE + i, _free_port()) for i in range(self.harness_ports)]
        ports: dict[str, tuple[str, int]] = {
            f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", api_port),
            **{f"{inside}/tcp": ("127.0.0.1", outside) for inside, outside in pool},
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
                self.network_name: self.client.api.create_endpoint_config(aliases=[TOXIPROXY_ALIAS])
            },
            detach=True,
        )
        self._proxy = _Proxy(container, Address("127.0.0.1", api_port), pool)
        container.start()

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


# -- removal and gc ---------------------------------------------------------------------------

#: in a run directory: the host directories (``host_dir``) the run made, for gc
HOST_DIRS = "docker-host-dirs.json"


def _write_host_dirs(run_dir: Path, dirs: list[Path]) -> None:
    tmp = run_dir / f"{HOST_DIRS}.tmp"
    tmp.write_text(json.dumps([str(d) for d in dirs]))
    tmp.replace(run_dir / HOST_DIRS)


def remove_host_dirs(run_dir: Path) -> list[str]:
    """Delete the host directories a run listed in ``HOST_DIRS`` (only those inside its run
    directory). Returns what was removed."""
    try:
        listed = json.loads((run_dir / HOST_DIRS).read_text())
    except (OSError, ValueError):
        return []
    removed: list[str] = []
    root = run_dir.resolve()
    for entry in listed if isinstance(listed, list) else []:
        d = Path(str(entry)).resolve()
        if root in d.parents and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(f"host directory {d}")
    return removed


def _remove_one(obj: Any, kind: str, remove: Callable[[], None], timeout_s: float = 30.0) -> str:
    """Remove one container, network or volume; what it says for the record. Another process
    removing the same object at the same time (a concurrent gc or a run's start-up sweep:
    409 "removal already in progress"), or a network whose endpoints are still going away,
    is waited for until the object is gone. Never raises."""
    import docker.errors

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            remove()
            return f"{kind} {obj.name}"
        except docker.errors.NotFound:
            return f"{kind} {obj.name} (removed by another process)"
        except docker.errors.DockerException as e:
            try:
                obj.reload()
            except docker.errors.NotFound:
                return f"{kind} {obj.name} (removed by another process)"
            except docker.errors.DockerException:
                pass
            if time.monotonic() > deadline:
                return f"could not remove {kind} {obj.name}: {e}"
            time.sleep(0.2)


def remove_run(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove every container, then the networks and volumes labelled ``rpochaos.run=run_id``.
    Returns what was removed (an entry starting with "could not remove" for what resisted for
    30 s); never raises for what is already gone or being removed by another process."""
    import docker.errors

    flt: dict[str, str | list[str] | bool] = {"label": f"{LABEL_RUN}={run_id}"}
    removed: list[str] = []
    for c in client.containers.list(all=True, filters=flt):
        if c.status == "paused":
            with contextlib.suppress(docker.errors.DockerException):
                c.unpause()
        # v: anonymous volumes (the official image's VOLUME)
        removed.append(_remove_one(c, "container", partial(c.remove, force=True, v=True)))
    for net in client.networks.list(filters=flt):
        removed.append(_remove_one(net, "network", net.remove))
    for v in client.volumes.list(filters=flt):
        removed.append(_remove_one(v, "volume", partial(v.remove, force=True)))
    return removed


def labelled(client: docker.DockerClient) -> dict[str, dict[str, str]]:
    """Every run that has a labelled container, network or volume: run id -> its labels."""
    flt: dict[str, str | list[str] | bool] = {"label": LABEL_RUN}
    runs: dict[str, dict[str, str]] = {}
    objects: list[Any] = [
        *client.containers.list(all=True, filters=flt),
        *client.networks.list(filters=flt),
        *client.volumes.list(filters=flt),
    ]
    for obj in objects:
        attrs = obj.attrs
        labels = attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
        run_id = labels.get(LABEL_RUN)
        if run_id:
            runs.setdefault(run_id, dict(labels))
    return runs


def _within(labels: Mapping[str, str], root: Path) -> bool:
    """True when the run that carries ``labels`` has its run directory at or below ``root``."""
    run_dir = labels.get(LABEL_RUN_DIR)
    if not run_dir:
        return False
    d, r = Path(run_dir).resolve(), root.resolve()
    return d == r or r in d.parents


def gc(
    *,
    force: bool = False,
    spare_kept: bool = False,
    client: docker.DockerClient | None = None,
    runs_root: Path | None = None,
    run_id: str | None = None,
) -> list[str]:
    """Remove the containers, networks and volumes of every run whose owner process is gone
    (on this host). ``force``: whoever owns them, but only of the runs whose run directory is
    at or below ``runs_root`` (with neither ``runs_root`` nor ``run_id``, ``force`` removes
    nothing more). ``run_id``: only that run. ``spare_kept``: leave runs made with
    --keep-topology (the automatic sweep at the start of a run uses it). Returns what was
    removed; an empty list when there is no engine."""
    try:
        c = client or engine.client(timeout_s=60)
    except MissingDependency:
        return []
    here = socket.gethostname()
    removed: list[str] = []
    for rid, labels in sorted(labelled(c).items()):
        if run_id is not None and rid != run_id:
            continue
        forced = force and (
            run_id is not None or (runs_root is not None and _within(labels, runs_root))
        )
        if not forced:
            if labels.get(LABEL_HOST) != here:
                continue  # another machine's run on a shared engine: its owner is not ours
            if spare_kept and labels.get(LABEL_KEEP) == "1":
                continue
            if owner_alive(labels):
                continue
        gone = remove_run(c, rid)
        if labels.get(LABEL_RUN_DIR):
            gone += remove_host_dirs(Path(labels[LABEL_RUN_DIR]))
        removed += [f"docker run {rid}: {what}" for what in gone]
    return removed
