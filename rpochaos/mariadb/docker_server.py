"""One mariadbd in a container of the docker backend: a node of kind ``mariadb``.

The node (``DockerBackend.node(name, kind="mariadb")``, ``backends.docker_nodes``) is a
volume, a sandbox container that holds its address ``<name>:3306`` on the run's network
and its port published on 127.0.0.1, and the server container whose PID 1 is mariadbd,
as the ``mysql`` user. The image is the official ``mariadb`` image or the local
``rpochaos/mariadb:10.11`` (Debian's mariadb-server); nothing relies on an entrypoint:
every command line is explicit, with programs by name (both images have them on PATH).

Under ``HOME`` (the node volume's data directory, owned by ``mysql``, mode 0700): ``db``
(the data directory, made by ``mariadb-install-db`` in a one-shot container: no template is
shared between volumes), ``tmp``, ``mysqld.sock``, ``mysqld.pid`` and ``init.sql``.
Nothing under /run/mysqld is used (neither image creates it for a non-root start). The
error log is the container's output (no ``--log-error``): semi-sync switching off and on is
written there, and ``docker logs`` shows it.

Options: those of the local server (``server.FIXED_OPTIONS`` and the declared settings,
``MariaDBSettings.server_args``) except that it binds 0.0.0.0: the harness comes in through
the published port, Toxiproxy from its own container. So the three accounts of
``init.sql`` are ``'user'@'%'`` here, not ``@'127.0.0.1'``; root stays unix-socket only
(``docker exec -u root <container> mariadb --socket=<HOME>/mysqld.sock`` reaches it).

Faults: a crash is ``docker kill`` of the server container (mariadbd is PID 1: every thread
dies at once), pause is the cgroup freezer, as for every docker node.
"""

from __future__ import annotations

from collections.abc import Mapping

from rpochaos.backends.base import Backend, LinkAddress
from rpochaos.backends.docker_nodes import DATADIR
from rpochaos.errors import TopologyError
from rpochaos.mariadb.server import FIXED_OPTIONS, INNODB_OPTIONS, AdminClient, Credentials
from rpochaos.mariadb.settings import MariaDBSettings

HOME = DATADIR
SOCKET = f"{HOME}/mysqld.sock"
#: the accounts' host part: the harness (through the published port) and Toxiproxy connect
#: from other addresses of the run's network
ACCOUNT_HOST = "%"
#: what replaces ``--bind-address=127.0.0.1`` of the local options
BIND = "--bind-address=0.0.0.0"

#: run in the one-shot container as ``mysql``: $1 is init.sql's text, the rest is
#: mariadb-install-db's options
_PREPARE = (
    'set -eu; umask 077; mkdir -p "$H/tmp"; printf "%s" "$1" > "$H/init.sql"; shift; '
    'exec mariadb-install-db --no-defaults --datadir="$H/db" --tmpdir="$H/tmp" "$@"'
)


class DockerMariaDBServer(AdminClient):
    """One node on the docker backend, with the interface of ``server.MariaDBServer`` that
    the cluster and the observer use: construction starts nothing; ``prepare`` makes the data
    directory, ``start`` starts the server and returns at once, ``wait_accepting`` waits for
    clients (``AdminClient``). ``port`` is where the harness reaches it on 127.0.0.1 (the
    published port)."""

    def __init__(
        self,
        backend: Backend,
        name: str,
        server_id: int,
        settings: MariaDBSettings,
        credentials: Credentials,
        *,
        role: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.backend = backend
        self.name = name
        self.server_id = server_id
        self.settings = settings
        self.credentials = credentials
        self.role = role
        self.env = dict(env or {})
        self.node = backend.node(name, kind="mariadb")
        self.port = self.node.address.port

    @property
    def container(self) -> str:
        """The server container's name (``docker exec`` into it)."""
        return str(getattr(self.node, "container_name", self.name))

    @property
    def upstream(self) -> str:
        """Where Toxiproxy reaches this server: ``<name>:3306`` on the run's network."""
        return str(self.backend.direct(self.node))

    def new_link(self, name: str, *, harness: bool) -> LinkAddress:
        """The addresses of a new proxied link ``name`` to this server."""
        return self.backend.link(name, self.node, harness=harness)

    def prepare(self, timeout_s: float = 120.0) -> None:
        """The node's volume and data directory, init.sql, then mariadb-install-db in a
        one-shot container; TopologyError with its output when that fails."""
        self.node.prepare()
        install = [
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--skip-name-resolve",
            *INNODB_OPTIONS,
        ]
        self.node.run(
            ["sh", "-c", f"H={HOME}; {_PREPARE}", "sh", self.init_sql(), *install],
            timeout_s=timeout_s,
            what=f"mariadb-install-db for {self.name}",
        )

    def init_sql(self) -> str:
        return self.credentials.init_sql(host=ACCOUNT_HOST)

    def argv(self) -> list[str]:
        """mariadbd's full command line for the node's current role."""
        fixed = [BIND if o.startswith("--bind-address=") else o for o in FIXED_OPTIONS]
        return [
            self.node.program("mariadbd"),
            "--no-defaults",
            f"--datadir={HOME}/db",
            f"--tmpdir={HOME}/tmp",
            f"--socket={SOCKET}",
            f"--pid-file={HOME}/mysqld.pid",
            f"--init-file={HOME}/init.sql",
            f"--port={self.node.port}",
            f"--server-id={self.server_id}",
            f"--read-only={'OFF' if self.role == 'primary' else 'ON'}",
            *fixed,
            *self.settings.server_args(self.name),
        ]

    # -- the process -------------------------------------------------------------------------

    def start(self) -> None:
        """Start mariadbd on the data directory (the same container again after a crash, so
        InnoDB crash recovery runs; a new one when the role changed the command line)."""
        if self.running():
            raise TopologyError(f"{self.name}: mariadbd is already running")
        self.node.start(self.argv(), self.env or None)

    def running(self) -> bool:
        return self.node.running()

    @property
    def pid(self) -> int | None:
        return self.node.pid

    def kill(self) -> None:
        self.node.kill()

    def stop(self, timeout_s: float = 20.0) -> None:
        """A requested shutdown (SIGTERM), SIGKILL after ``timeout_s``."""
        self.node.stop(timeout_s=timeout_s, sig=15)

    def restart(self) -> None:
        """Stop (or reap what a crash left), start on the same data, wait for clients."""
        self.stop()
        self.start()
        self.wait_accepting()

    def pause(self) -> None:
        self.node.pause()

    def resume(self) -> None:
        self.node.resume()

    def log_tail(self, lines: int = 20) -> str:
        return self.node.log_tail(lines)

    def kept_line(self) -> str:
        return (
            f"kept mariadb {self.name}: container {self.container}, 127.0.0.1:{self.port} "
            f"(docker exec -it -u root {self.container} mariadb --socket={SOCKET})"
        )
