"""A docker backend's node: its volume, sandbox, server and one-shot helper containers.

Each node of a run (``DockerBackend.node``) is

- a volume ``rpochaos-<run id>-<node>``: the data directory /var/lib/rpochaos/data;
- a *sandbox* container ``rpochaos-<run id>-<node>-net`` that only sleeps and owns the node's
  network namespace: the alias ``<node>``, its address, its published port (like the pause
  container of a Kubernetes pod);
- the server container ``rpochaos-<run id>-<node>``, which joins the sandbox's namespace
  (``network_mode=container:...``) and whose main process (PID 1) is the postmaster.

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
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rpochaos.backends.base import Address, Node, NodeKind, append_log, checked_output
from rpochaos.errors import TopologyError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from rpochaos.images.names import Images


class DockerBackend(Protocol):
    """What a node needs of the docker backend that made it (``backends.docker``): the
    engine, the images, the run's name prefix, network and labels, where logs go, the host
    directories bind-mounted into every node, and whether the backend is closing or its
    engine is this machine's."""

    client: docker.DockerClient
    images: Images
    prefix: str
    network_name: str
    logs: Path
    shared: list[Path]
    closed: bool
    local_engine: bool

    def labels(self, role: str, **extra: str) -> dict[str, str]: ...


DATA_MOUNT = "/var/lib/rpochaos"
DATADIR = f"{DATA_MOUNT}/data"
PG_PORT = 5432
DB_OS_USER = "postgres"
KAFKA_PORT = 9092  # a Kafka node's client listener; its other listeners take the next ports
KAFKA_OS_USER = "appuser"  # the official apache/kafka image's user (rpochaos/kafka has it too)
MARIADB_PORT = 3306
MARIADB_OS_USER = "mysql"  # the official mariadb image's user (Debian's package makes it too)


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (all held open while they are chosen, so
    two of them are never the same port)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


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
        if kind == "mariadb":
            self.port, self.user, self.image = MARIADB_PORT, MARIADB_OS_USER, backend.images.mariadb
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
        return checked_output(self.backend.logs / f"{self.name}.log", argv, what, code, out)

    def _append_log(self, text: str) -> None:
        append_log(self.backend.logs / f"{self.name}.log", text)

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
                    stop_signal="SIGINT" if self.kind == "postgres" else "SIGTERM",
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

    def _published_ports(self) -> dict[str, tuple[str, int]]:
        """The sandbox's published ports: container port -> the harness's loopback port."""
        return {f"{self.port}/tcp": ("127.0.0.1", self.address.port)}

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
                ports=self._published_ports(),
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
