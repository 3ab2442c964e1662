"""The backend contract: how nodes are started, reached, crashed and removed.

A backend owns everything it starts (processes, containers, networks, volumes) and removes
all of it in ``close``, which is idempotent and never raises for something already gone.
Topologies never touch processes or containers directly; they talk to the backend through
three things:

``Node``
    one database node: where its data directory is *as its own programs see it*, which
    address and port its server binds, where the harness reaches it directly
    (``address``), and how to run its programs: one-shot commands (``run``: initdb,
    pg_basebackup) and the long-lived server (``start``), always as the unprivileged
    database user, never through an image's entrypoint. ``kill`` is a crash (SIGKILL of every
    server process at once, no flush), ``stop`` a requested shutdown, ``pause``/``resume``
    freeze and thaw every server process.

``LinkAddress``
    how one proxied link is wired: what the Toxiproxy server listens on, how it reaches the
    destination node, where the harness connects to the proxy (client links), and where
    other nodes connect to it (replication links; it is what ends up in primary_conninfo).

``start_proxy``
    start this run's Toxiproxy server and return a client for its API.

==========  ===========================  =============================================
            local                        docker
==========  ===========================  =============================================
node        processes as the db user     one container per node, on the run's network
address     127.0.0.1:<node port>        127.0.0.1:<published port> -> container :5432
proxy       127.0.0.1:<free port>        0.0.0.0:<port> in the Toxiproxy container
upstream    127.0.0.1:<node port>        <node alias>:5432
peer        127.0.0.1:<proxy port>       toxiproxy:<port> (DNS alias on the network)
harness     127.0.0.1:<proxy port>       127.0.0.1:<published port> (client links only)
crash       SIGKILL the process group    SIGKILL the container (postgres is its PID 1)
pause       SIGSTOP the process group    cgroup freezer (``docker pause``)
==========  ===========================  =============================================

Both topologies (PostgreSQL and Kafka) use only this contract. A node's ``kind`` says what
it runs: on docker it picks the image (the PostgreSQL or the Kafka image), the user its
programs run as and the port its server binds; locally, Kafka's JVMs run as the invoking
user while PostgreSQL runs as the database user.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rpochaos.errors import RpochaosError, TopologyError

if TYPE_CHECKING:
    from rpochaos.proxy import Toxiproxy


def wait_for_api(
    client: Toxiproxy, alive: Callable[[], bool], why: Callable[[], str], timeout_s: float
) -> Toxiproxy:
    """Return ``client`` once its Toxiproxy server answers. TopologyError (saying ``why()``
    and the last error) as soon as ``alive()`` is false or ``timeout_s`` has passed; the
    client is closed then."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.version()
            return client
        except RpochaosError as e:
            if not alive() or time.monotonic() > deadline:
                client.close()
                raise TopologyError(f"{why()}: {e}") from e
            time.sleep(0.05)


#: what a node runs: a PostgreSQL server, a Kafka broker+controller JVM, or a MariaDB server
#: (docker only: the local MariaDB cluster runs its own processes, ``rpochaos.mariadb.server``)
NodeKind = Literal["postgres", "kafka", "mariadb"]


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Endpoint:
    """An address the workload connects to, and the node behind it."""

    host: str
    port: int
    node: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LinkAddress:
    """How one proxied link is wired (see the module docstring for both backends)."""

    listen: str  # what the Toxiproxy server binds, as given to its API
    upstream: str  # how the Toxiproxy server reaches the destination node
    peer: Address  # where other nodes connect to the proxy
    harness: Address | None  # where the harness connects to it; None when it cannot

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class Server(ABC):
    """A long-lived server the backend started (a PostgreSQL node, a Toxiproxy server)."""

    name: str
    log_path: Path

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def kill(self) -> None:
        """SIGKILL every process of this server at once (a crash: no shutdown, no flush)."""

    @abstractmethod
    def stop(self, timeout_s: float = 10.0, sig: int = 15) -> None:
        """Send ``sig`` (default SIGTERM) to ask the server to shut down, then kill it if it
        has not within ``timeout_s``."""

    @abstractmethod
    def pause(self) -> None:
        """Freeze every process of this server (SIGSTOP, or the cgroup freezer)."""

    @abstractmethod
    def resume(self) -> None:
        """Thaw every process of this server."""

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Node(ABC):
    """One database node as a backend runs it. Create it with ``Backend.node``."""

    name: str
    kind: NodeKind = "postgres"
    datadir: str  # the data directory, as the node's own programs see it
    listen_host: str  # what the server binds (PostgreSQL's listen_addresses)
    port: int  # the port the server binds, as its programs see it
    address: Address  # where the harness reaches the server directly
    #: pg_hba ADDRESS values, beyond loopback, that the harness, the proxy and other nodes
    #: connect from (docker: ``samenet``, the run's network, which includes the gateway that
    #: published ports come in through)
    hba_hosts: tuple[str, ...] = ()

    @abstractmethod
    def program(self, name: str) -> str:
        """How to invoke one of the node's programs (``initdb``, ``postgres``, ``java``)."""

    @abstractmethod
    def more_ports(self, count: int) -> list[int]:
        """``count`` more ports the server may bind beside ``port`` (a Kafka node's
        controller and inter-broker listeners): distinct from every other port this backend
        handed out in the run."""

    @abstractmethod
    def prepare(self) -> None:
        """Create the empty data directory, owned by the database user, mode 0700."""

    @abstractmethod
    def run(self, argv: list[str], *, timeout_s: float, what: str) -> str:
        """Run a one-shot command as the database user where the node's programs run (it
        reaches other nodes and proxies by their ``peer`` addresses); return its output.
        Raises TopologyError carrying ``what`` and the output when it fails or times out."""

    @abstractmethod
    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        """Start the server (``argv`` as the database user; its output goes to the node's
        log). Starting again after ``kill`` or ``stop`` restarts it on the same data."""

    @abstractmethod
    def running(self) -> bool:
        """True while the server runs (also while it is paused)."""

    @abstractmethod
    def kill(self) -> None:
        """SIGKILL every server process at once (a crash). A paused node is killed too."""

    @abstractmethod
    def stop(self, timeout_s: float = 10.0, sig: int = 15) -> None:
        """Send ``sig`` to the server, then kill it if it has not exited within
        ``timeout_s``."""

    @abstractmethod
    def pause(self) -> None:
        """Freeze every server process (the node stops answering but keeps its sockets)."""

    @abstractmethod
    def resume(self) -> None: ...

    @abstractmethod
    def log_tail(self, lines: int = 20) -> str: ...

    @property
    def pid(self) -> int | None:
        """Host pid of the server's main process (the postmaster) while it runs, when the
        harness can signal it directly; else None."""
        return None


class Backend(ABC):
    name: str
    host: str = "127.0.0.1"  # the address the harness uses to reach servers and proxies
    run_dir: Path
    keep: bool

    @abstractmethod
    def node(self, name: str, *, data_dir: Path | None = None, kind: NodeKind = "postgres") -> Node:
        """A new node handle (nothing runs yet) for a server of ``kind``. ``data_dir`` is a
        hint for backends that keep data on the host; others ignore it."""

    @abstractmethod
    def link(self, name: str, dst: Node, *, harness: bool, port: int | None = None) -> LinkAddress:
        """Addresses for a new proxied link to ``dst``'s ``port`` (default: ``dst.port``).
        ``harness`` says whether the harness itself connects through it (the workload's
        ``client-><node>`` links)."""

    @abstractmethod
    def direct(self, dst: Node, port: int | None = None) -> Address:
        """Where the Toxiproxy server and other nodes' programs reach ``dst``'s ``port``
        (default ``dst.port``) without a proxy: what a proxy to it forwards to, and what a
        one-shot command of another node (a base backup) connects to."""

    @abstractmethod
    def host_dir(self, name: str) -> Path:
        """A new empty host directory ``name`` for this run that the harness and every node
        program started afterwards (servers and one-shot commands) see at the same path, and
        the database user may write (a WAL archive, a base backup, a fault's flag file).
        Removed with the run's data unless the topology is kept."""

    @abstractmethod
    def start_proxy(self, timeout_s: float = 30.0) -> Toxiproxy:
        """Start this run's Toxiproxy server; return a client once its API answers."""

    @abstractmethod
    def close(self) -> None:
        """Save every log into <run dir>/logs, then kill and remove everything this backend
        started (unless the topology is kept). Idempotent."""

    def share_host_dir(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Make the host directory ``path`` visible, read-write and at the same path, to every
        node server started afterwards (fault shims and their control files). Local: nothing
        to do; docker: a bind mount into the node containers."""

    def remove_data(self) -> None:  # noqa: B027 - optional hook
        """Delete node data left on the host (after ``close``, when not kept)."""

    def describe(self) -> dict[str, object]:
        """What the run record should say about this backend (images, engine version...)."""
        return {"name": self.name}

    def kept(self) -> list[str]:
        """Lines telling a person how to reach what ``--keep-topology`` left running."""
        return []

    def signals_processes(self) -> bool:
        """True when the harness may signal a node's server processes one at a time by their
        host pids (``Node.pid`` answers while the node runs): pausing one process needs it."""
        return False

    def data_root(self) -> Path:
        """The host directory under which node data directories are created (backends that
        keep node data on the host only)."""
        raise TopologyError(f"the {self.name} backend keeps no node data on the host")


def append_log(log: Path, text: str) -> None:
    """Append ``text`` to a node's log file, ending it with a newline."""
    with open(log, "a") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def checked_output(log: Path, argv: list[str], what: str, code: int, out: str) -> str:
    """A one-shot command's output, after logging it to ``log``: raises TopologyError (with
    the command and the end of its output) when it exited non-zero."""
    append_log(log, f"--- {what}: {' '.join(argv)} (exit {code}) ---\n{out}")
    if code != 0:
        raise TopologyError(f"{what} failed (exit {code}): {' '.join(argv)}\n{out[-2000:]}")
    return out
