"""The PostgreSQL writer: unique increasing sequence numbers at a target rate.

Each write is one autocommit ``INSERT`` of its sequence number. The writer journals the
invoke before sending and the outcome after, on the harness clock:

- ``ok``: the commit returned. If PostgreSQL sent the WARNING "canceling wait for
  synchronous replication" with it, the commit was acknowledged but is not known to be on
  any standby: still ``ok`` (that is what the application was told) and marked
  ``sync_wait_cancelled``.
- ``fail``: the connection could not be opened, so nothing was sent.
- ``info``: anything else (an error or a lost connection after sending): the outcome is unknown.

It follows the writable primary across a failover: every worker connects with libpq's
multi-host form over every node's ``client-><node>`` proxy and ``target_session_attrs=
read-write``, and reconnects after an error, so the first write on the new primary (RTO) is
journaled with the node that took it. With ``commit_timeout`` a watchdog sends a PostgreSQL
cancel request for any write still waiting after that long (an application timeout).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from rpochaos.backends.base import Endpoint
from rpochaos.clock import Clock
from rpochaos.errors import first_line
from rpochaos.history import SYNC_WAIT_CANCELLED, Journal, Outcome
from rpochaos.scenario import Workload
from rpochaos.topology.postgres import DB_NAME, DB_USER, TABLE
from rpochaos.workload.pacing import PacedWriter, WritesInFlight

INSERT_SQL = f"INSERT INTO {TABLE} (seq) VALUES (%s)"
_SYNC_CANCEL_WARNING = "canceling wait for synchronous replication"


@dataclass
class _InFlight:
    conn: psycopg.Connection[Any]
    since: float
    cancelled: bool = False


class PostgresWriter(PacedWriter[Workload]):
    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        workload: Workload,
        journal: Journal,
        clock: Clock,
    ) -> None:
        super().__init__(workload, journal, clock)
        self.endpoints = list(endpoints)
        self._inflight: WritesInFlight[_InFlight] = WritesInFlight()
        self.by_port = {e.port: e.node for e in self.endpoints}
        hosts = ",".join(e.host for e in self.endpoints)
        ports = ",".join(str(e.port) for e in self.endpoints)
        self.conninfo = (
            f"host={hosts} port={ports} dbname={DB_NAME} user={DB_USER} "
            f"target_session_attrs=read-write "
            f"connect_timeout={max(1, round(workload.connect_timeout))} "
            "application_name=rpochaos-writer"
        )

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._start_workers("writer")
        if self.workload.commit_timeout is not None:
            w = threading.Thread(target=self._watchdog, name="writer-watchdog", daemon=True)
            w.start()
            self._threads.append(w)

    def join(self, timeout_s: float = 10.0) -> bool:
        """Wait for writes in flight. Past ``timeout_s``, cancel them (PostgreSQL cancel
        request) and wait a little more. Returns False if some worker is still stuck."""
        return self._join_or_abort(timeout_s, self._cancel_all)

    def _cancel_all(self) -> None:
        for f in self._inflight.now():
            self._cancel(f)

    # -- the work ----------------------------------------------------------------------
    def _connect(self, flags: dict[str, bool]) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.conninfo, autocommit=True)

        def on_notice(diag: psycopg.errors.Diagnostic) -> None:
            if _SYNC_CANCEL_WARNING in (diag.message_primary or ""):
                flags["sync_cancel"] = True

        conn.add_notice_handler(on_notice)
        return conn

    def _worker(self, wid: int) -> None:
        conn: psycopg.Connection[Any] | None = None
        node: str | None = None
        flags = {"sync_cancel": False}
        try:
            for seq in self._writes(wid):
                if conn is None or conn.closed:
                    try:
                        conn = self._connect(flags)
                        node = self.by_port.get(int(conn.info.port))
                    except psycopg.Error as e:
                        conn = None
                        self._complete(seq, Outcome.FAIL, None, f"connect: {first_line(e)}")
                        continue
                flags["sync_cancel"] = False
                outcome, note = Outcome.OK, None
                with self._inflight.holding(wid, _InFlight(conn, self.clock.now())):
                    try:
                        conn.execute(INSERT_SQL, (seq,))
                        if flags["sync_cancel"]:
                            note = SYNC_WAIT_CANCELLED
                    except psycopg.Error as e:
                        outcome, note = Outcome.INFO, first_line(e)
                        if conn.closed or isinstance(
                            e, psycopg.OperationalError | pg_errors.ReadOnlySqlTransaction
                        ):
                            conn.close()
                            conn = None
                self._complete(seq, outcome, node, note)
        finally:
            if conn is not None:
                conn.close()

    def _cancel(self, f: _InFlight) -> None:
        if f.cancelled:
            return
        f.cancelled = True
        with contextlib.suppress(psycopg.Error, OSError):
            f.conn.cancel_safe(timeout=2.0)

    def _watchdog(self) -> None:
        limit = self.workload.commit_timeout
        assert limit is not None
        while True:
            time.sleep(0.02)
            now = self.clock.now()
            late = [f for f in self._inflight.now() if not f.cancelled and now - f.since >= limit]
            for f in late:
                self._cancel(f)
            workers = [t for t in self._threads if t.name != "writer-watchdog"]
            if self._stop.is_set() and not any(t.is_alive() for t in workers):
                return
