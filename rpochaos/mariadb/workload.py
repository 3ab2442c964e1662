"""The MariaDB writer: unique increasing sequence numbers at a target rate.

Each write is one autocommit ``INSERT INTO rpochaos.writes (seq) VALUES (%s)`` by the
``writer`` account, through the ``client->primary`` proxy (which the cluster points at the
new primary after a failover). The writer journals the invoke before sending and the
outcome after, on the harness clock, with the outcomes docs/measurement.md defines:

- ``ok``: the commit returned. A semi-sync primary that gave up waiting for its replica
  returns exactly the same OK, with no warning: the client cannot tell, so neither can this
  writer (the observer sees it, in ``Rpl_semi_sync_master_status``).
- ``fail``: the connection could not be opened (or its first query, which asks the server's
  id, got no answer), so nothing was sent.
- ``info``: anything else after sending (an error, a lost connection, a read timeout): the
  outcome is unknown. An exception is ``info``, never ``fail``.

The node journaled with a write is the one whose ``@@server_id`` the connection reported
when it was opened. After an error the worker reconnects for its next write. With
``commit_timeout`` a write still waiting after that long is abandoned (the socket's read
timeout: PyMySQL closes the connection) and journaled ``info``; ``join`` shuts down the
socket of any write still in flight past its own timeout.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pymysql
import pymysql.cursors

from rpochaos.backends.base import Address
from rpochaos.clock import Clock
from rpochaos.history import Journal, Outcome
from rpochaos.mariadb.server import TABLE, WRITER_USER, Connection, connect
from rpochaos.workload.pacing import Paced, PacedWriter, WritesInFlight

INSERT_SQL = f"INSERT INTO {TABLE} (seq) VALUES (%s)"


class WorkloadShape(Paced, Protocol):
    """What the writer reads of a scenario's workload (``rpochaos.scenario.Workload`` has it):
    the pacing (``Paced``) and its two timeouts."""

    @property
    def connect_timeout(self) -> float: ...

    @property
    def commit_timeout(self) -> float | None: ...


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


@dataclass
class _InFlight:
    conn: Connection
    cut: bool = False


class MariaDBWriter(PacedWriter[WorkloadShape]):
    """Satisfies ``rpochaos.roles.Writer``. ``nodes`` maps server id to node name."""

    def __init__(
        self,
        endpoint: Address,
        nodes: Mapping[int, str],
        password: str,
        workload: WorkloadShape,
        journal: Journal,
        clock: Clock,
    ) -> None:
        super().__init__(workload, journal, clock)
        self.endpoint = endpoint
        self.nodes = dict(nodes)
        self.password = password
        self._inflight: WritesInFlight[_InFlight] = WritesInFlight()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._start_workers("mariadb-writer")

    def join(self, timeout_s: float = 10.0) -> bool:
        """Wait for writes in flight; past ``timeout_s`` shut their sockets down (each is
        journaled ``info``) and wait a little more. False if a worker is still stuck."""
        return self._join_or_abort(timeout_s, self._cut_all)

    def _cut_all(self) -> None:
        for f in self._inflight.now():
            _cut(f)

    # -- the work ----------------------------------------------------------------------

    def _connect(self) -> tuple[Connection, str | None]:
        conn = connect(
            self.endpoint.port,
            WRITER_USER,
            self.password,
            connect_timeout=max(0.1, self.workload.connect_timeout),
            read_timeout=self.workload.commit_timeout,
        )
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@server_id")
                row = cur.fetchone()
        except BaseException:
            conn.close()
            raise
        node = self.nodes.get(int(str(row[0]))) if row else None
        return conn, node

    def _worker(self, wid: int) -> None:
        conn: Connection | None = None
        node: str | None = None
        try:
            for seq in self._writes(wid):
                if conn is None:
                    try:
                        conn, node = self._connect()
                    except (pymysql.Error, OSError) as e:
                        conn = None
                        self._complete(seq, Outcome.FAIL, None, f"connect: {_short(e)}")
                        continue
                outcome, note = Outcome.OK, None
                with self._inflight.holding(wid, _InFlight(conn)):
                    try:
                        with conn.cursor() as cur:
                            cur.execute(INSERT_SQL, (seq,))
                    except (pymysql.Error, OSError) as e:
                        outcome, note = Outcome.INFO, _short(e)
                        with contextlib.suppress(pymysql.Error, OSError):
                            conn.close()
                        conn = None
                self._complete(seq, outcome, node, note)
        finally:
            if conn is not None:
                with contextlib.suppress(pymysql.Error, OSError):
                    conn.close()


def _cut(f: _InFlight) -> None:
    """Shut down the socket of a write in flight: its worker's read fails at once."""
    if f.cut:
        return
    f.cut = True
    sock = getattr(f.conn, "_sock", None)  # PyMySQL has no cancel call
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
