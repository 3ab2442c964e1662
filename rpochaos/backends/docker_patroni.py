"""A docker node of any image whose sandbox publishes several ports: a Patroni node
(PostgreSQL's port and the REST API's) or an etcd member (its client port).

``ServiceNode`` is a ``docker_nodes.DockerNode`` in everything else: a volume mounted at
/var/lib/rpochaos, a sandbox container owning the network namespace (alias ``<name>``), and
the server container joining it, run as ``postgres``. Crash = ``docker kill`` of the server
container (SIGKILL of its PID 1: every process of the node dies at once, the sandbox keeps
the address so peers get a refused connection), restart = ``docker start`` of the same
container on the same volume, pause = ``docker pause`` (the cgroup freezer). ``published``
maps each container port to the port published on 127.0.0.1 for the harness.

``host_pid`` is the host pid of the container's PID 1 (recorded at ``start``, checked
against its start time so a reused pid is never named), for a host crash faster than
``docker kill`` (which also waits until the engine sees the exit: 0.1-1.2 s measured, that a
crash must not leave to PostgreSQL to acknowledge writes in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rpochaos.backends.base import Address
from rpochaos.backends.docker_nodes import DockerBackend, DockerNode, _free_port
from rpochaos.backends.local import proc_start

if TYPE_CHECKING:
    pass


class ServiceNode(DockerNode):
    """A node of ``image`` whose sandbox publishes every port of ``ports`` (the first is the
    node's own ``port``) on 127.0.0.1."""

    def __init__(
        self, backend: DockerBackend, name: str, *, image: str, ports: Sequence[int]
    ) -> None:
        if not ports:
            raise ValueError(f"{name}: a service node publishes at least one port")
        super().__init__(backend, name, "postgres")
        self.image = image
        self.port = ports[0]
        self.published = {p: _free_port() for p in ports}
        self.address = Address("127.0.0.1", self.published[self.port])
        self._next_port = max(ports) + 1
        self._host_pid: tuple[int, str] | None = None

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        super().start(argv, env)
        self._host_pid = None
        pid = self.pid  # None unless the engine is this machine's
        start = proc_start(pid) if pid else None
        if pid and start is not None:
            self._host_pid = (pid, start)

    def host_pid(self) -> int | None:
        """The host pid of the container's PID 1 as recorded at ``start`` when that process
        still runs (same pid, same start time), else None (also on a remote engine)."""
        if self._host_pid is not None and proc_start(self._host_pid[0]) == self._host_pid[1]:
            return self._host_pid[0]
        return None

    def harness(self, port: int) -> Address:
        """Where the harness reaches container port ``port`` of this node."""
        return Address("127.0.0.1", self.published[port])

    def _published_ports(self) -> dict[str, tuple[str, int]]:
        return {f"{p}/tcp": ("127.0.0.1", h) for p, h in self.published.items()}
