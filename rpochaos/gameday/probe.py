"""The probe workload: sequenced inserts into the run's own table, nothing else.

The table is ``<schema>.rpochaos_probe_<run id>`` (``seq bigint primary key``), created on the
primary at the start and dropped at the end unless kept. Each worker connects to the first
node of the inventory that accepts a read-write session (the primary first, so after a
promotion the probe follows to the promoted replica through its client link), journals every
write with ``history.Journal`` on the harness clock, and keeps counts the stop conditions read.
Credentials come from libpq's environment (PGPASSFILE, service files, PGPASSWORD), never from
the inventory, and never appear in what is recorded.

``PostgresSide`` is the probe as ``execute`` drives it (``ProbeSide``, which the Kafka probe,
``rpochaos.gameday.kafka_probe.KafkaSide``, also is): the settings in force, create, start,
stop, the error rate, the final read on the writable node, drop.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import sql

from rpochaos.clock import Clock
from rpochaos.errors import first_line
from rpochaos.history import Journal, Outcome
from rpochaos.measure import FinalRead
from rpochaos.scenario import Workload
from rpochaos.workload.pacing import PacedWriter

if TYPE_CHECKING:
    from rpochaos.gameday.inventory import Inventory

SETTINGS = (
    "server_version",
    "synchronous_commit",
    "synchronous_standby_names",
    "fsync",
    "full_page_writes",
    "wal_level",
    "wal_sender_timeout",
)


def table_name(run_id: str) -> str:
    return f"rpochaos_probe_{run_id.replace('-', '_').lower()}"


def connect(conninfo: str, timeout_s: float, **kw: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(
        conninfo,
        autocommit=True,
        connect_timeout=max(1, round(timeout_s)),
        application_name="rpochaos-gameday",
        **kw,
    )


class Probe(PacedWriter[Workload]):
    def __init__(
        self,
        nodes: Mapping[str, str],
        schema: str,
        run_id: str,
        workload: Workload,
        journal: Journal,
        clock: Clock,
    ) -> None:
        super().__init__(workload, journal, clock)
        self.nodes = dict(nodes)  # name -> conninfo, primary first
        self.table = sql.Identifier(schema, table_name(run_id))
        self._lock = threading.Lock()
        #: (completion time, ok) of recent writes, for the error-rate stop condition
        self.recent: deque[tuple[float, bool]] = deque(maxlen=20000)

    def create_table(self) -> None:
        with connect(self.nodes["primary"], self.workload.connect_timeout) as c:
            c.execute(sql.SQL("CREATE TABLE {} (seq bigint PRIMARY KEY)").format(self.table))

    def drop_table(self, node: str) -> None:
        with connect(self.nodes[node], self.workload.connect_timeout) as c:
            c.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.table))

    def read_seqs(self, node: str) -> list[int]:
        with connect(self.nodes[node], self.workload.connect_timeout) as c:
            rows = c.execute(sql.SQL("SELECT seq FROM {}").format(self.table)).fetchall()
        return [int(r[0]) for r in rows]

    def start(self) -> None:
        self._start_workers("probe")

    def stop(self, timeout_s: float = 10.0) -> bool:
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)
        return not any(t.is_alive() for t in self._threads)

    def error_rate(self, window_s: float) -> tuple[float, int]:
        """(fraction not ok, writes counted) over the last ``window_s`` seconds."""
        since = self.clock.now() - window_s
        with self._lock:
            got = [ok for t, ok in self.recent if t >= since]
        return ((len(got) - sum(got)) / len(got) if got else 0.0), len(got)

    def _open(self) -> tuple[psycopg.Connection[Any], str]:
        err: Exception | None = None
        for name, conninfo in self.nodes.items():
            try:
                conn = connect(
                    conninfo, self.workload.connect_timeout, target_session_attrs="read-write"
                )
            except psycopg.Error as e:
                err = e
                continue
            return conn, name
        raise err or psycopg.OperationalError("no node")

    def _done(self, seq: int, outcome: Outcome, node: str | None, note: str | None) -> None:
        now = self.clock.now()
        self.journal.complete(seq, now, outcome, node, note)
        with self._lock:
            self.recent.append((now, outcome is Outcome.OK))
            if outcome is Outcome.OK:
                self.acknowledged += 1

    def _worker(self, wid: int) -> None:
        conn: psycopg.Connection[Any] | None = None
        node: str | None = None
        insert = sql.SQL("INSERT INTO {} (seq) VALUES (%s)").format(self.table)
        try:
            for seq in self._writes(wid):
                if conn is None or conn.closed:
                    try:
                        conn, node = self._open()
                    except psycopg.Error as e:
                        conn = None
                        self._done(seq, Outcome.FAIL, None, f"connect: {first_line(e)}")
                        continue
                try:
                    conn.execute(insert, (seq,))
                except psycopg.Error as e:
                    self._done(seq, Outcome.INFO, node, first_line(e))
                    conn.close()
                    conn = None
                    continue
                self._done(seq, Outcome.OK, node, None)
        except ValueError:
            pass  # the journal was closed under a stuck worker
        finally:
            if conn is not None:
                conn.close()


class ProbeSide(Protocol):
    """The probe of one system, as ``execute`` drives it: ``what`` ("table", "topic") and
    ``name`` say what it writes to; ``final_read`` returns None when no node could be read;
    ``drop`` (given the node the final read read, None when it failed) raises on failure
    (the run records it)."""

    what: str
    name: str

    def settings(self) -> dict[str, object]: ...
    def read_back(self) -> dict[str, object]: ...
    def versions(self) -> dict[str, object]: ...
    def meta(self) -> dict[str, object]: ...
    def create(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def error_rate(self, window_s: float) -> tuple[float, int]: ...
    def final_read(self, promoted: str | None) -> FinalRead | None: ...
    def drop(self, node: str | None) -> None: ...


def server_settings(conninfo: str) -> dict[str, object]:
    """The durability settings in force on a server, as it reports them."""
    with connect(conninfo, 2.0) as c:
        out: dict[str, object] = {}
        for name in SETTINGS:
            row = c.execute("SELECT current_setting(%s, true)", (name,)).fetchone()
            out[name] = None if row is None else row[0]
        rows = c.execute("SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
        out["replicas"] = {str(a): str(s) for a, s in rows}
    return out


class PostgresSide:
    """The PostgreSQL probe as ``execute`` drives it."""

    what = "table"

    def __init__(
        self, inv: Inventory, run_id: str, workload: Workload, journal: Journal, clock: Clock
    ) -> None:
        nodes = {n: node.conninfo for n, node in inv.nodes.items()}
        nodes = {"primary": nodes.pop("primary"), **nodes}
        self.probe = Probe(nodes, inv.probe.schema_, run_id, workload, journal, clock)
        self.name = table_name(run_id)
        self.clock = clock
        self._settings: dict[str, object] | None = None

    def settings(self) -> dict[str, object]:
        if self._settings is None:
            self._settings = server_settings(self.probe.nodes["primary"])
        return self._settings

    def read_back(self) -> dict[str, object]:
        return {}

    def versions(self) -> dict[str, object]:
        return {"postgres": self.settings().get("server_version")}

    def meta(self) -> dict[str, object]:
        return {"table": self.name}

    def create(self) -> None:
        self.probe.create_table()

    def start(self) -> None:
        self.probe.start()

    def stop(self) -> None:
        self.probe.stop()

    def error_rate(self, window_s: float) -> tuple[float, int]:
        return self.probe.error_rate(window_s)

    def final_read(self, promoted: str | None) -> FinalRead | None:
        """Every sequence number on the writable node: the promoted one first."""
        order = [promoted] if promoted else []
        order += [n for n in self.probe.nodes if n not in order]
        for node in order:
            try:
                with connect(self.probe.nodes[node], 2.0, target_session_attrs="read-write"):
                    pass
                seqs = self.probe.read_seqs(node)
            except psycopg.Error:
                continue
            return FinalRead(node=node, seqs=frozenset(seqs), at_s=self.clock.now())
        return None

    def drop(self, node: str | None) -> None:
        if node is None:
            raise RuntimeError("no writable node to drop the table on: drop it by hand")
        self.probe.drop_table(node)
