"""Sampling what MariaDB itself says about semi-sync and replication, into a JSON-lines file.

Semi-sync falling back to asynchronous is invisible to clients (the commit returns the same
OK); only the primary's status variables show it. One thread samples the current primary
every ``interval_s``: ``Rpl_semi_sync_master_status``, ``_clients``, ``_yes_tx``, ``_no_tx``
and ``@@gtid_binlog_pos``; one thread per replica samples ``@@gtid_slave_pos`` and whether
its IO and SQL threads run. Records (``t`` on the harness clock):

    {"type": "primary", "t": 3.10, "node": "primary", "status": "ON", "clients": 1,
     "yes_tx": 41, "no_tx": 0, "gtid": "0-1-42"}
    {"type": "replica", "t": 3.11, "node": "replica1", "gtid": "0-1-42", "io": "Yes",
     "sql": "Yes", "behind": 0}
    {"type": "semi_sync_off", "t": 5.20, "last_on_t": 5.15, "node": "primary", "no_tx": 1}
    {"type": "semi_sync_on", "t": 9.02, "last_off_t": 8.97, "node": "primary", "yes_tx": 44}
    {"type": "read", "t": 3.12, "node": "primary", "seqs": [41, 42]}

``read``: a second reader (another session on the current primary, as an application) saw
these rows for the first time; with AFTER_COMMIT it sees rows before any replica has them.

A switch happened between ``last_on_t`` (or ``last_off_t``) and ``t``: the interval is one
sampling period wide. ``behind`` counts transactions (GTID sequence numbers, summed over
domains) the replica lacks compared with the primary's newest sample. Every connection has a
short connect and read timeout, so a paused or partitioned server delays only its own thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pymysql
import pymysql.cursors

from rpochaos.clock import Clock
from rpochaos.jsonl import JsonlAppender
from rpochaos.mariadb import gtid
from rpochaos.mariadb.cluster import MariaDBCluster
from rpochaos.mariadb.server import Connection

OBSERVATIONS = "mariadb_observations.jsonl"
#: one sampling step, given the thread's open connections by node name
_Sampler = Callable[[dict[str, Connection]], None]


class MariaDBObserver:
    """Satisfies ``rpochaos.roles.Observer`` (and ``LatestSample``)."""

    def __init__(
        self,
        cluster: MariaDBCluster,
        clock: Clock,
        path: Path,
        interval_s: float = 0.05,
    ) -> None:
        self.cluster = cluster
        self.clock = clock
        self.path = Path(path)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._out: JsonlAppender | None = None
        self._lock = threading.Lock()
        self._samples = 0
        self._errors = 0
        self._primary_gtid = ""
        self._replicas: dict[str, dict[str, object]] = {}
        self.switches: list[dict[str, object]] = []
        self._last: dict[str, object] | None = None  # the previous primary sample
        self._seen: set[int] = set()  # rows the second reader has seen

    def start(self) -> None:
        self._out = JsonlAppender(self.path, allow_nan=False)
        targets: list[tuple[str, _Sampler]] = [
            ("primary", self._sample_primary),
            ("reader", self._read_rows),
        ]
        targets += [(r, self._sampler_of(r)) for r in self.cluster.settings.replicas]
        for name, fn in targets:
            t = threading.Thread(
                target=self._loop, args=(fn,), name=f"mariadb-observe-{name}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> Mapping[str, object] | None:
        self._stop.set()
        for t in self._threads:
            t.join(3.0)
        if self._out is not None:
            self._out.close()
        with self._lock:
            return {
                "samples": self._samples,
                "errors": self._errors,
                "interval_s": self.interval_s,
                "semi_sync_off": sum(1 for s in self.switches if s["type"] == "semi_sync_off"),
                "semi_sync_on": sum(1 for s in self.switches if s["type"] == "semi_sync_on"),
            }

    def latest(self) -> Mapping[str, object] | None:
        with self._lock:
            if not self._replicas:
                return None
            return {
                "replicas": {
                    n: {"lag_bytes": None, "lag_transactions": r.get("behind")}
                    for n, r in self._replicas.items()
                }
            }

    # -- sampling ----------------------------------------------------------------------

    def _write(self, record: dict[str, object]) -> None:
        assert self._out is not None
        self._out.append(record)
        with self._lock:
            self._samples += 1

    def _loop(self, sample: _Sampler) -> None:
        conns: dict[str, Connection] = {}
        try:
            while not self._stop.is_set():
                try:
                    sample(conns)
                except (pymysql.Error, OSError):
                    with self._lock:
                        self._errors += 1
                    for c in conns.values():
                        with contextlib.suppress(pymysql.Error, OSError):
                            c.close()
                    conns.clear()
                self._stop.wait(self.interval_s)
        finally:
            for c in conns.values():
                with contextlib.suppress(pymysql.Error, OSError):
                    c.close()

    def _conn(self, conns: dict[str, Connection], name: str) -> Connection:
        if name not in conns:
            for c in conns.values():  # the primary moved: drop the old one
                with contextlib.suppress(pymysql.Error, OSError):
                    c.close()
            conns.clear()
            conns[name] = self.cluster.node(name).connect(connect_timeout=0.5, read_timeout=1.0)
        return conns[name]

    def _sample_primary(self, conns: dict[str, Connection]) -> None:
        name = self.cluster.primary_name
        conn = self._conn(conns, name)
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'")
            status = {str(k): str(v) for k, v in cur.fetchall()}
            cur.execute("SELECT @@gtid_binlog_pos")
            row = cur.fetchone()
        t = self.clock.now()
        gtid = str(row[0]) if row else ""
        rec: dict[str, object] = {
            "type": "primary",
            "t": round(t, 4),
            "node": name,
            "status": status.get("Rpl_semi_sync_master_status", ""),
            "clients": int(status.get("Rpl_semi_sync_master_clients", "0")),
            "yes_tx": int(status.get("Rpl_semi_sync_master_yes_tx", "0")),
            "no_tx": int(status.get("Rpl_semi_sync_master_no_tx", "0")),
            "gtid": gtid,
        }
        self._write(rec)
        self._switch(rec)
        with self._lock:
            self._primary_gtid = gtid

    def _read_rows(self, conns: dict[str, Connection]) -> None:
        """The second reader: another session on the current primary reading the newest
        rows, as an application would; each row it sees for the first time is recorded
        (``read``), so rows that a failover then loses can be counted ("read but lost")."""
        name = self.cluster.primary_name
        conn = self._conn(conns, name)
        with conn.cursor() as cur:
            cur.execute("SELECT seq FROM rpochaos.writes ORDER BY seq DESC LIMIT 500")
            rows = [int(str(r[0])) for r in cur.fetchall()]
        new = sorted(set(rows) - self._seen)
        if new:
            self._seen.update(new)
            self._write(
                {"type": "read", "t": round(self.clock.now(), 4), "node": name, "seqs": new}
            )

    def _switch(self, rec: dict[str, object]) -> None:
        """A switch record when the status changed on the same node since the last sample."""
        last, self._last = self._last, rec
        if last is None or last["node"] != rec["node"] or last["status"] == rec["status"]:
            return
        if rec["status"] == "OFF":
            sw: dict[str, object] = {
                "type": "semi_sync_off",
                "t": rec["t"],
                "last_on_t": last["t"],
                "node": rec["node"],
                "no_tx": rec["no_tx"],
            }
        elif rec["status"] == "ON":
            sw = {
                "type": "semi_sync_on",
                "t": rec["t"],
                "last_off_t": last["t"],
                "node": rec["node"],
                "yes_tx": rec["yes_tx"],
            }
        else:
            return
        assert self._out is not None
        self._out.append(sw)
        with self._lock:
            self.switches.append(sw)

    def _sampler_of(self, replica: str) -> _Sampler:
        def sample(conns: dict[str, Connection]) -> None:
            if replica == self.cluster.primary_name:
                return  # promoted: sampled by the primary thread
            conn = self._conn(conns, replica)
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute("SELECT @@gtid_slave_pos AS pos")
                pos_row = cur.fetchone()
                cur.execute("SHOW SLAVE STATUS")
                st = cur.fetchone() or {}
            pos = str(pos_row["pos"]) if pos_row else ""
            with self._lock:
                lag = gtid.behind(self._primary_gtid, pos)
            rec: dict[str, object] = {
                "type": "replica",
                "t": round(self.clock.now(), 4),
                "node": replica,
                "gtid": pos,
                "io": str(st.get("Slave_IO_Running", "")),
                "sql": str(st.get("Slave_SQL_Running", "")),
                "behind": lag,
            }
            self._write(rec)
            with self._lock:
                self._replicas[replica] = rec

        return sample
