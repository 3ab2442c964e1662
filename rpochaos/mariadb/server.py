"""One mariadbd on 127.0.0.1: its own data directory, its own free port, explicit options.

Under ``<home>`` (owned by the server's account, mode 0700): ``data`` (the data directory,
a copy of a template made once by ``mariadb-install-db``, see ``datadir``), ``tmp`` (its own
temporary directory), ``mysqld.sock``, ``mysqld.pid``, ``error.log`` (the server's own log:
semi-sync switching off and on is written there, nowhere else) and ``init.sql``.

Options: ``--no-defaults`` first, so no system configuration file is read; then every
option the cluster relies on, and the declared settings (``MariaDBSettings.server_args``).
Users come from ``init.sql`` (``--init-file``, run at every start, with ``sql_log_bin=0`` so
no server's GTID position starts ahead of another's): ``rpochaos`` (everything; the harness
and the observer), ``repl`` (REPLICATION SLAVE) and ``writer`` (INSERT and SELECT on the
``rpochaos`` database only, so ``read_only`` stops it on a replica), each on 127.0.0.1 with a
generated password. root stays unix-socket only.

Processes: started through ``LocalBackend.spawn`` (own session and process group, listed in
the run's pids.json, log in ``logs/mariadb-<name>.log``). As root the server runs as the
``mysql`` account (``deps.mysql_user``) through ``setpriv``, which also sets
PR_SET_PDEATHSIG=SIGKILL again after the change of user (the kernel clears it on a change of
credentials), so the server dies with the harness unless the backend keeps its topology.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

import pymysql
import pymysql.cursors

from rpochaos.backends.base import Address, LinkAddress
from rpochaos.backends.local import LocalBackend, LocalServer, RunsOneServer
from rpochaos.errors import TopologyError
from rpochaos.mariadb import datadir, deps
from rpochaos.mariadb.settings import MariaDBSettings
from rpochaos.waiting import wait_until

#: an open PyMySQL connection with tuple rows (PyMySQL's class is generic only in its stubs)
Connection: TypeAlias = "pymysql.connections.Connection[pymysql.cursors.Cursor]"
HOST = "127.0.0.1"
DB_NAME = "rpochaos"
TABLE = f"{DB_NAME}.writes"
ADMIN_USER = "rpochaos"
REPL_USER = "repl"
WRITER_USER = "writer"
#: seconds without a byte (heartbeats come every half of it) before a replica's IO thread
#: gives up on its source and reconnects; MariaDB's default is 60 s
SLAVE_NET_TIMEOUT_S = 4
#: InnoDB sizes small enough for many servers on one machine (also used to make the data)
INNODB_OPTIONS = ("--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M")
#: options that are not RPO settings, the same on every node
FIXED_OPTIONS = (
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    "--log-bin=mysql-bin",
    "--binlog-format=ROW",
    "--log-slave-updates=ON",
    "--gtid-strict-mode=ON",
    "--relay-log=relay-bin",
    f"--slave-net-timeout={SLAVE_NET_TIMEOUT_S}",
    *INNODB_OPTIONS,
    "--performance-schema=OFF",
)


@dataclass(frozen=True)
class Credentials:
    """Generated passwords of the three accounts every server of a cluster has."""

    admin: str = field(default_factory=lambda: secrets.token_hex(12))
    repl: str = field(default_factory=lambda: secrets.token_hex(12))
    writer: str = field(default_factory=lambda: secrets.token_hex(12))

    def init_sql(self, host: str = "127.0.0.1") -> str:
        """The init file: the three accounts on ``host`` (their host part), each created if
        missing, its password set and its grant given, without writing the binlog."""
        rows = [
            ("rpochaos", self.admin, "ALL PRIVILEGES ON *.*"),
            ("repl", self.repl, "REPLICATION SLAVE ON *.*"),
            ("writer", self.writer, f"INSERT, SELECT ON {DB_NAME}.*"),
        ]
        lines = ["SET sql_log_bin=0;"]
        for user, password, grant in rows:
            lines.append(f"CREATE USER IF NOT EXISTS '{user}'@'{host}';")
            lines.append(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY '{password}';")
            lines.append(f"GRANT {grant} TO '{user}'@'{host}';")
        return "\n".join(lines) + "\n"


def connect(
    port: int,
    user: str,
    password: str,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float | None = 5.0,
    database: str | None = None,
) -> Connection:
    """An autocommit connection to 127.0.0.1:``port``; pymysql.Error when it does not answer.
    ``read_timeout`` bounds every query (None: wait as long as the server takes)."""
    return pymysql.connect(
        host=HOST,
        port=port,
        user=user,
        password=password,
        database=database,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        write_timeout=read_timeout,
        autocommit=True,
    )


class AdminClient:
    """Mixin of both node kinds: the harness's admin connection to ``127.0.0.1:<port>`` (the
    server's own port locally, its published port on docker), one-statement queries, and the
    wait for clients. Needs ``name``, ``port``, ``credentials``, ``running`` and ``log_tail``."""

    name: str
    port: int
    credentials: Credentials

    if TYPE_CHECKING:

        def running(self) -> bool: ...

        def log_tail(self, lines: int = 20) -> str: ...

    def connect(
        self, *, connect_timeout: float = 2.0, read_timeout: float | None = 5.0
    ) -> Connection:
        """A new autocommit admin connection straight to this server (not through a proxy)."""
        return connect(
            self.port,
            ADMIN_USER,
            self.credentials.admin,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement on a fresh admin connection; its rows."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def status(self, sql: str) -> dict[str, str]:
        """A ``SHOW ... STATUS`` / ``SHOW SLAVE STATUS`` answer as name -> value (one row)."""
        with self.connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        if not rows:
            return {}
        if "Variable_name" in rows[0]:
            return {str(r["Variable_name"]): str(r["Value"]) for r in rows}
        return {str(k): "" if v is None else str(v) for k, v in rows[0].items()}

    def wait_accepting(self, timeout_s: float = 30.0) -> None:
        """Wait until the admin account can log in (the init file has run)."""

        def probe() -> bool:
            if not self.running():
                raise TopologyError(f"{self.name}: mariadbd exited\n{self.log_tail()}")
            self.query("SELECT 1")
            return True

        wait_until(
            f"{self.name}: mariadbd did not accept clients on port {self.port}",
            timeout_s,
            probe,
            self.log_tail,
            retry_on=pymysql.Error,
            interval_s=0.05,
        )


class MariaDBServer(RunsOneServer, AdminClient):
    """One node. ``role`` is ``primary`` or ``replica`` and decides ``read_only`` at every
    start. Construction starts nothing; ``prepare`` makes the data directory, ``start``
    starts the server and returns at once, ``wait_accepting`` waits for clients."""

    def __init__(
        self,
        backend: LocalBackend,
        name: str,
        server_id: int,
        home: Path,
        settings: MariaDBSettings,
        credentials: Credentials,
        *,
        role: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.backend = backend
        self.name = name
        self.server_id = server_id
        self.home = home
        self.settings = settings
        self.credentials = credentials
        self.role = role
        self.env = dict(env or {})
        self.port = backend.free_port()
        self.server: LocalServer | None = None
        self.user = deps.mysql_user()
        self.copied = False  # whether prepare copied the data directory from the template

    # -- files -------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def error_log(self) -> Path:
        return self.home / "error.log"

    def _own(self, path: Path, mode: int) -> None:
        os.chmod(path, mode)
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def prepare(self, timeout_s: float = 60.0) -> None:
        """Create ``home``, write init.sql and make the data directory (``datadir.make``: a
        copy of the template, or mariadb-install-db the first time; TopologyError if that
        fails or takes longer than ``timeout_s``; also when the data directory exists)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._own(self.home, 0o700)
        tmp = self.home / "tmp"  # not /tmp: bootstraps in parallel collide on temp names
        tmp.mkdir(exist_ok=True)
        self._own(tmp, 0o700)
        init = self.home / "init.sql"
        init.write_text(self.credentials.init_sql())
        self._own(init, 0o600)
        if self.data_dir.exists():
            raise TopologyError(
                f"{self.name}: {self.data_dir} already exists (a data directory of another "
                "cluster?); give each cluster its own data root"
            )
        options = [
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--skip-name-resolve",
            *INNODB_OPTIONS,
        ]

        def install(data_dir: Path) -> None:
            argv = [
                str(deps.install_db()),
                "--no-defaults",
                f"--datadir={data_dir}",
                f"--tmpdir={self.home / 'tmp'}",
                *options,
            ]
            self.backend.run(
                self._as_server_user(argv),
                as_db_user=False,
                timeout_s=timeout_s,
                what=f"mariadb-install-db for {self.name}",
            )

        self.copied = datadir.make(self.data_dir, options, install, self.user)

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if self.user is None:
            return argv
        wrap = [
            "setpriv",
            f"--reuid={self.user.pw_uid}",
            f"--regid={self.user.pw_gid}",
            "--clear-groups",
        ]
        if not self.backend.keep:
            wrap.append("--pdeathsig=KILL")
        return [*wrap, "--", *argv]

    def argv(self) -> list[str]:
        """mariadbd's full command line for the node's current role."""
        return [
            str(deps.mariadbd()),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--tmpdir={self.home / 'tmp'}",
            f"--socket={self.home / 'mysqld.sock'}",
            f"--pid-file={self.home / 'mysqld.pid'}",
            f"--log-error={self.error_log}",
            f"--init-file={self.home / 'init.sql'}",
            f"--port={self.port}",
            f"--server-id={self.server_id}",
            f"--read-only={'OFF' if self.role == 'primary' else 'ON'}",
            *FIXED_OPTIONS,
            *self.settings.server_args(self.name),
        ]

    @property
    def upstream(self) -> str:
        """Where Toxiproxy reaches this server."""
        return f"{HOST}:{self.port}"

    def new_link(self, name: str, *, harness: bool) -> LinkAddress:
        """The addresses of a new proxied link to this server: a free port of 127.0.0.1 that
        the harness and the replicas alike connect to."""
        at = Address(HOST, self.backend.free_port())
        return LinkAddress(listen=str(at), upstream=self.upstream, peer=at, harness=at)

    def kept_line(self) -> str:
        return (
            f"kept mariadb {self.name}: 127.0.0.1:{self.port} pid {self.pid} "
            f"(mariadb -h127.0.0.1 -P{self.port} -urpochaos -p{self.credentials.admin})"
        )

    # -- the process -------------------------------------------------------------------------

    def start(self) -> None:
        """Start mariadbd on the data directory (crash recovery runs by itself)."""
        if self.running():
            raise TopologyError(f"{self.name}: mariadbd is already running")
        self.server = self.backend.spawn(
            f"mariadb-{self.name}",
            self._as_server_user(self.argv()),
            as_db_user=False,
            env=self.env or None,
        )

    def stop(self, timeout_s: float = 20.0) -> None:
        """A requested shutdown (SIGTERM), SIGKILL after ``timeout_s``."""
        if self.server is not None:
            self.server.stop(timeout_s=timeout_s, sig=signal.SIGTERM)

    def restart(self) -> None:
        """Stop (or reap what a crash left), start on the same data, wait for clients."""
        self.stop()
        self.start()
        self.wait_accepting()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.error_log.read_text(errors="replace")
        except OSError:
            text = self.server.log_tail(lines) if self.server is not None else "(not started)"
        return "\n".join(text.splitlines()[-lines:])

    def error_log_since(self, offset: int) -> tuple[str, int]:
        """The error log's text from byte ``offset`` on, and the new end offset."""
        try:
            with open(self.error_log, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return "", offset
        return data.decode(errors="replace"), offset + len(data)


class MariaDBNode(Protocol):
    """What the cluster and the observer use of one node: ``MariaDBServer`` (local
    processes) and ``docker_server.DockerMariaDBServer`` (a container) both have it."""

    name: str
    server_id: int
    role: str
    port: int  # where the harness reaches the server on 127.0.0.1, without a proxy

    @property
    def upstream(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    def new_link(self, name: str, *, harness: bool) -> LinkAddress: ...
    def prepare(self) -> None: ...
    def start(self) -> None: ...
    def wait_accepting(self, timeout_s: float = 30.0) -> None: ...
    def running(self) -> bool: ...
    def kill(self) -> None: ...
    def stop(self, timeout_s: float = 20.0) -> None: ...
    def restart(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def log_tail(self, lines: int = 20) -> str: ...
    def kept_line(self) -> str: ...
    def connect(
        self, *, connect_timeout: float = 2.0, read_timeout: float | None = 5.0
    ) -> Connection: ...
    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]: ...
    def status(self, sql: str) -> dict[str, str]: ...


def wait_gone(servers: list[MariaDBNode], timeout_s: float = 10.0) -> list[int]:
    """Pids of the servers still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = [s.pid for s in servers if s.pid is not None]
        if not left or time.monotonic() >= deadline:
            return [p for p in left if p is not None]
        time.sleep(0.05)
