"""The PostgreSQL observer: replication lag as the servers report it, sampled during a run.

``PostgresObserver(cluster, clock, path, rate_hz=10)`` samples every node on its own
connection and appends one flushed JSON line per sample to ``path`` (``observations.jsonl``)::

    {"t": 2.3001, "primary": "primary", "primary_lsn": "0/3A2B1C0", "error": null,
     "replicas": [{"name": "replica1", "connected": true, "state": "streaming",
                   "sync_state": "async", "sent_lsn": "0/3A2B1C0", "write_lsn": "0/3A20000",
                   "flush_lsn": "0/3A20000", "replay_lsn": "0/3A1F000", "lag_bytes": 45504,
                   "write_lag_s": 0.0012, "flush_lag_s": 0.0013, "replay_lag_s": 0.0015,
                   "stalled_s": 0.0, "receive_lsn": "0/3A20000",
                   "standby_replay_lsn": "0/3A1F000"}],
     "nodes": {"primary": {"t": 2.2987, "ok": true, "in_recovery": false, "lsn": "0/3A2B1C0",
                           "receive_lsn": null, "replay_lsn": null, "query_ms": 0.9},
               "replica1": {...}}}

- ``t`` is harness time (``Clock.now()``) when the sample was written; each node's reading has
  its own ``t`` (when its query returned).
- ``replicas`` comes from ``pg_stat_replication`` on the **current** primary
  (``cluster.primary_name``, followed when a promote changes it), in one statement together
  with ``pg_current_wal_lsn()``. ``lag_bytes`` is
  ``pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)``: no clock involved. The ``*_lag_s``
  columns are PostgreSQL's ``write_lag``/``flush_lag``/``replay_lag`` in seconds, ``null`` when
  the server shows NULL — which it does during a blackhole, while ``state`` stays
  ``streaming``.
- ``stalled_s`` is how long, on the harness clock, the replica's flush LSN has not advanced
  while it was behind the primary's current LSN. A partition of the replication link shows as
  ``stalled_s`` rising one second per second. It is 0 when the replica is caught up or its
  flush LSN moved since the previous reading.
- A replica that was listed before under the same primary and has disappeared from
  ``pg_stat_replication`` (its walsender gave up after ``wal_sender_timeout``, or the
  walreceiver is reconnecting) stays in ``replicas`` with ``connected: false``, its last known
  LSNs, ``lag_bytes`` against them, and ``stalled_s`` still counting.
- ``receive_lsn`` / ``standby_replay_lsn`` are ``pg_last_wal_receive_lsn()`` /
  ``pg_last_wal_replay_lsn()`` read on the standby itself (a direct connection to it).
- ``naive_lag_s`` is the popular lag query ``now() - pg_last_xact_replay_timestamp()`` on the
  standby: the standby's clock minus a commit time stamped by the primary's clock, so a
  skewed clock on either side shows up in it as lag (or negative lag). Reported next to the
  measured window, never used for it.
- When the primary cannot be read (down, crashed, paused), the sample has ``error`` set and
  ``replicas`` empty; sampling goes on.

Threads: one poller per node, each with its own connection (``connect_timeout=2``, libpq's
minimum; ``statement_timeout=500ms``; reconnect at most every 0.5 s after a failure), and one
writer that composes a sample from the newest readings ``rate_hz`` times a second. A node that
stops answering (e.g. SIGSTOPped: the server cannot enforce statement_timeout then) blocks only
its own poller; its reading is reported stale after ``stale_s``. The observer connects to the
nodes' own ports, never through the Toxiproxy links, so the faults of a scenario do not hide
what the servers say.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg

from rpochaos.clock import Clock
from rpochaos.errors import first_line
from rpochaos.topology.postgres import PostgresCluster, PostgresNode

#: the file name in the run directory
OBSERVATIONS = "observations.jsonl"

#: one round trip per reading; the CTE makes pg_current_wal_lsn() one value for the statement
_QUERY = """
WITH s AS (SELECT pg_is_in_recovery() AS rec),
     p AS (SELECT CASE WHEN s.rec THEN NULL ELSE pg_current_wal_lsn() END AS lsn FROM s)
SELECT s.rec,
       p.lsn::text,
       pg_last_wal_receive_lsn()::text,
       pg_last_wal_replay_lsn()::text,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
       CASE WHEN s.rec THEN NULL ELSE (
         SELECT coalesce(json_agg(json_build_object(
                  'name', r.application_name,
                  'state', r.state,
                  'sync_state', r.sync_state,
                  'sent_lsn', r.sent_lsn::text,
                  'write_lsn', r.write_lsn::text,
                  'flush_lsn', r.flush_lsn::text,
                  'replay_lsn', r.replay_lsn::text,
                  'lag_bytes', pg_wal_lsn_diff(p.lsn, r.flush_lsn)::bigint,
                  'write_lag_s', extract(epoch FROM r.write_lag)::float8,
                  'flush_lag_s', extract(epoch FROM r.flush_lag)::float8,
                  'replay_lag_s', extract(epoch FROM r.replay_lag)::float8)
                  ORDER BY r.application_name), '[]'::json)
           FROM pg_stat_replication r) END
  FROM s, p
"""

_APP_NAME = "rpochaos-observer"
STATEMENT_TIMEOUT_MS = 500
CONNECT_TIMEOUT_S = 2  # libpq treats anything below 2 as 2
RECONNECT_EVERY_S = 0.5


def parse_lsn(text: str | None) -> int | None:
    """'16/B374D848' -> byte position; None stays None."""
    if not text:
        return None
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@dataclass(frozen=True)
class _Reading:
    """What one query on one node returned (or why it did not)."""

    n: int  # increasing per node: lets the writer tell a new reading from one seen before
    t: float
    ok: bool
    error: str | None = None
    query_ms: float | None = None
    in_recovery: bool | None = None
    lsn: str | None = None
    receive_lsn: str | None = None
    replay_lsn: str | None = None
    naive_lag_s: float | None = None
    replicas: tuple[dict[str, Any], ...] = ()

    def to_json(self, now: float, stale_s: float, busy_since: float | None) -> dict[str, Any]:
        age = now - self.t
        if busy_since is not None and now - busy_since > stale_s:
            return {
                "t": round(self.t, 6),
                "ok": False,
                "error": f"no answer for {now - busy_since:.1f} s",
            }
        if not self.ok:
            return {"t": round(self.t, 6), "ok": False, "error": self.error}
        d: dict[str, Any] = {
            "t": round(self.t, 6),
            "ok": True,
            "in_recovery": self.in_recovery,
            "lsn": self.lsn,
            "receive_lsn": self.receive_lsn,
            "replay_lsn": self.replay_lsn,
            "naive_lag_s": self.naive_lag_s,
            "query_ms": self.query_ms,
        }
        if age > stale_s:
            d["ok"] = False
            d["error"] = f"reading is {age:.1f} s old"
        return d


class _Poller:
    """One node, one connection, one thread: newest reading in ``latest``. ``current``
    names the server behind the node's name right now (a restore replaces it); every new
    connection goes there."""

    def __init__(
        self,
        node: PostgresNode,
        clock: Clock,
        period_s: float,
        current: Callable[[], PostgresNode] | None = None,
    ) -> None:
        self.node = node
        self.current = current
        self.clock = clock
        self.period_s = period_s
        self.latest: _Reading | None = None
        self.busy_since: float | None = None  # harness time the running query started
        self.stop = threading.Event()
        self.queries = 0
        self.errors = 0
        self.query_ms: deque[float] = deque(maxlen=20_000)
        self.cpu_s = 0.0
        self._n = 0
        self._conn: psycopg.Connection[Any] | None = None
        self.thread = threading.Thread(target=self._loop, name=f"observer-{node.name}", daemon=True)

    def _connect(self) -> psycopg.Connection[Any]:
        if self.current is not None:
            self.node = self.current()
        return psycopg.connect(
            self.node.conninfo,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=_APP_NAME,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        )

    def _put(self, **kw: Any) -> None:
        self._n += 1
        self.latest = _Reading(n=self._n, t=self.clock.now(), **kw)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _loop(self) -> None:
        try:
            next_t = self.clock.now()
            retry_at = 0.0
            while not self.stop.is_set():
                now = self.clock.now()
                if now < next_t:
                    self.stop.wait(next_t - now)
                    continue
                next_t = max(next_t + self.period_s, now)  # never burst to catch up
                if self._conn is None:
                    if now < retry_at:
                        continue
                    self.busy_since = now  # a frozen server hangs the connect too
                    try:
                        self._conn = self._connect()
                    except Exception as e:  # refused, timed out, starting up, ...
                        self.errors += 1
                        retry_at = self.clock.now() + RECONNECT_EVERY_S
                        self._put(ok=False, error=first_line(e))
                        continue
                    finally:
                        self.busy_since = None
                self._query()
        finally:
            self._close()
            self.cpu_s = time.thread_time()

    def _query(self) -> None:
        assert self._conn is not None
        self.busy_since = t0 = self.clock.now()
        try:
            row = self._conn.execute(_QUERY).fetchone()
        except Exception as e:
            self.errors += 1
            self._close()
            self._put(ok=False, error=first_line(e))
            return
        finally:
            self.busy_since = None
        ms = (self.clock.now() - t0) * 1000.0
        self.queries += 1
        self.query_ms.append(ms)
        assert row is not None
        rec, lsn, receive, replay, naive, replicas = row
        self._put(
            ok=True,
            query_ms=round(ms, 2),
            in_recovery=bool(rec),
            lsn=lsn,
            receive_lsn=receive,
            replay_lsn=replay,
            naive_lag_s=None if naive is None else round(float(naive), 6),
            replicas=tuple(replicas or ()),
        )


@dataclass
class _Track:
    """Per replica, under one primary: the last flush position and since when it is stuck."""

    flush: int | None
    since: float
    last: dict[str, Any] = field(default_factory=dict)


class PostgresObserver:
    """Sample replication state of ``cluster`` ``rate_hz`` times a second into ``path``.

    ``start()`` opens the file and starts the threads; ``stop()`` stops them and returns
    overhead figures (see ``stats``). Neither blocks on a server: a node that does not answer
    is reported as such. Usable as a context manager.
    """

    def __init__(
        self,
        cluster: PostgresCluster,
        clock: Clock,
        path: Path,
        rate_hz: float = 10.0,
        *,
        stale_s: float | None = None,
    ) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz!r}")
        self.cluster = cluster
        self.clock = clock
        self.path = Path(path)
        self.rate_hz = float(rate_hz)
        self.period_s = 1.0 / self.rate_hz
        self.stale_s = stale_s if stale_s is not None else max(1.0, 3.0 * self.period_s)
        self._pollers = {
            name: _Poller(node, clock, self.period_s, self._server_of(name))
            for name, node in cluster.nodes.items()
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="observer", daemon=True)
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._tracks: dict[str, _Track] = {}
        self._tracked_primary: str | None = None
        self._seen_n: int | None = None
        self._samples = 0
        self._t_start: float | None = None
        self._t_stop: float | None = None
        self._cpu_writer_s = 0.0
        self._stats: dict[str, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def _server_of(self, name: str) -> Callable[[], PostgresNode]:
        """The server named ``name`` in the cluster at the time of the call."""
        return lambda: self.cluster.nodes[name]

    def start(self) -> None:
        if self._file is not None:
            raise RuntimeError("observer already started")
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._t_start = self.clock.now()
        for p in self._pollers.values():
            p.thread.start()
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> dict[str, Any]:
        """Stop sampling (waiting at most about ``timeout_s``) and return ``stats()``."""
        if self._stats is not None:
            return self._stats
        self._stop.set()
        for p in self._pollers.values():
            p.stop.set()
        deadline = time.monotonic() + timeout_s
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        now = self.clock.now()
        for p in self._pollers.values():
            busy = p.busy_since
            if busy is not None and now - busy > self.stale_s:
                continue  # stuck on a node that does not answer: it ends when the node does
            if p.thread.is_alive():
                p.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if self._file is not None:
                self._file.close()
        self._t_stop = self.clock.now()
        self._stats = self.stats()
        return self._stats

    def __enter__(self) -> PostgresObserver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it saw -----------------------------------------------------------------------
    def latest(self) -> dict[str, Any] | None:
        """The newest sample written (for a live progress view), or None."""
        return self._latest

    def stats(self) -> dict[str, Any]:
        """Overhead figures: samples written and the rate achieved, queries and their latency,
        and the CPU time of the observer's own threads (known once they have ended)."""
        start = self._t_start if self._t_start is not None else 0.0
        end = self._t_stop if self._t_stop is not None else self.clock.now()
        elapsed = max(end - start, 1e-9) if self._t_start is not None else 0.0
        ms = sorted(x for p in self._pollers.values() for x in p.query_ms)
        cpu = self._cpu_writer_s + sum(p.cpu_s for p in self._pollers.values())
        return {
            "rate_hz": self.rate_hz,
            "samples": self._samples,
            "elapsed_s": round(elapsed, 3),
            "achieved_hz": round(self._samples / elapsed, 2) if elapsed else 0.0,
            "queries": sum(p.queries for p in self._pollers.values()),
            "query_errors": sum(p.errors for p in self._pollers.values()),
            "query_ms_p50": round(ms[len(ms) // 2], 2) if ms else None,
            "query_ms_p99": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2) if ms else None,
            "query_ms_max": round(ms[-1], 2) if ms else None,
            "cpu_s": round(cpu, 3),
            "cpu_pct": round(100.0 * cpu / elapsed, 2) if elapsed else 0.0,
        }

    # -- the writer thread -----------------------------------------------------------------
    def _loop(self) -> None:
        try:
            next_t = self.clock.now()
            while not self._stop.is_set():
                now = self.clock.now()
                if now < next_t:
                    self._stop.wait(next_t - now)
                    continue
                next_t = max(next_t + self.period_s, now)
                if self._warming_up(now):
                    continue
                sample = self._compose()
                line = json.dumps(sample, separators=(",", ":"), allow_nan=False) + "\n"
                with self._lock:
                    if self._file is None or self._file.closed:
                        return
                    self._file.write(line)
                    self._file.flush()
                self._latest = sample
                self._samples += 1
        finally:
            self._cpu_writer_s = time.thread_time()

    def _warming_up(self, now: float) -> bool:
        """True until the primary's first reading (at most ``stale_s``): the first connects
        must not look like an outage."""
        start = self._t_start if self._t_start is not None else now
        p = self._pollers.get(self.cluster.primary_name)
        return p is not None and p.latest is None and now - start < self.stale_s

    def _compose(self) -> dict[str, Any]:
        """One sample from the newest reading of every node (no I/O; the writer thread's)."""
        now = self.clock.now()
        primary = self.cluster.primary_name
        nodes: dict[str, Any] = {}
        for name, p in self._pollers.items():
            r = p.latest
            if r is None:
                nodes[name] = {"t": None, "ok": False, "error": "no reading yet"}
            else:
                nodes[name] = r.to_json(now, self.stale_s, p.busy_since)
        sample: dict[str, Any] = {
            "t": round(now, 6),
            "primary": primary,
            "primary_lsn": None,
            "error": None,
            "replicas": [],
            "nodes": nodes,
        }
        if primary != self._tracked_primary:  # a failover: LSN history starts over
            self._tracks = {}
            self._tracked_primary = primary
            self._seen_n = None
        pr = self._pollers[primary].latest if primary in self._pollers else None
        pj = nodes.get(primary, {"ok": False, "error": f"unknown node {primary!r}"})
        if pr is None or not pj.get("ok"):
            sample["error"] = f"{primary}: {pj.get('error') or 'no reading'}"
            return sample
        if pr.in_recovery:
            sample["error"] = f"{primary}: is in recovery (not a primary yet)"
            return sample
        sample["primary_lsn"] = pr.lsn
        sample["replicas"] = self._replicas(pr, nodes)
        return sample

    def _replicas(self, pr: _Reading, nodes: dict[str, Any]) -> list[dict[str, Any]]:
        fresh = pr.n != self._seen_n
        self._seen_n = pr.n
        plsn = parse_lsn(pr.lsn)
        out: list[dict[str, Any]] = []
        listed: set[str] = set()
        for row in pr.replicas:
            name = str(row.get("name"))
            listed.add(name)
            flush = parse_lsn(row.get("flush_lsn"))
            tr = self._tracks.get(name)
            if tr is None:
                tr = self._tracks[name] = _Track(flush=flush, since=pr.t)
            elif fresh and flush is not None and (tr.flush is None or flush > tr.flush):
                tr.flush, tr.since = flush, pr.t
            if fresh and plsn is not None and flush is not None and flush >= plsn:
                tr.since = pr.t  # caught up: not stalled
            tr.last = dict(row)
            rep = {"name": name, "connected": True, **{k: v for k, v in row.items() if k != "name"}}
            rep["stalled_s"] = round(max(0.0, pr.t - tr.since), 3)
            out.append(rep)
        for name, tr in self._tracks.items():  # seen before under this primary, gone now
            if name in listed:
                continue
            if fresh and plsn is not None and tr.flush is not None and tr.flush >= plsn:
                tr.since = pr.t
            lag = plsn - tr.flush if plsn is not None and tr.flush is not None else None
            out.append(
                {
                    "name": name,
                    "connected": False,
                    "state": None,
                    "sync_state": tr.last.get("sync_state"),
                    "sent_lsn": tr.last.get("sent_lsn"),
                    "write_lsn": tr.last.get("write_lsn"),
                    "flush_lsn": tr.last.get("flush_lsn"),
                    "replay_lsn": tr.last.get("replay_lsn"),
                    "lag_bytes": max(0, lag) if lag is not None else None,
                    "write_lag_s": None,
                    "flush_lag_s": None,
                    "replay_lag_s": None,
                    "stalled_s": round(max(0.0, pr.t - tr.since), 3),
                }
            )
        for rep in out:
            sb = nodes.get(rep["name"], {})
            ok = bool(sb.get("ok"))
            rep["receive_lsn"] = sb.get("receive_lsn") if ok else None
            rep["standby_replay_lsn"] = sb.get("replay_lsn") if ok else None
            rep["naive_lag_s"] = sb.get("naive_lag_s") if ok else None
        out.sort(key=lambda r: str(r["name"]))
        return out


def read_observations(path: Path) -> list[dict[str, Any]]:
    """Samples from an observations.jsonl (empty if the file is missing). A cut last line
    (a harness killed mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict) and "t" in d:
            out.append(d)
    return out


def max_lag_bytes(samples: list[dict[str, Any]]) -> int | None:
    """The largest ``lag_bytes`` of any replica in any sample; None when none was measured."""
    best: int | None = None
    for s in samples:
        for r in s.get("replicas") or ():
            v = r.get("lag_bytes")
            if isinstance(v, int | float) and (best is None or v > best):
                best = int(v)
    return best
