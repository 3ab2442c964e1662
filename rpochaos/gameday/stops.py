"""Stop conditions, polled on their own thread while a game day runs.

Each check returns a reason (str) when the run must stop, else None: the total duration past
``limits.max_total``; the probe's error rate over ``error_window`` past ``max_error_rate``; a
replica's replay lag in bytes past ``max_lag_bytes`` (``pg_stat_replication`` on the primary);
each SQL probe whose first column comes back true (or that fails); each HTTP health check that
does not answer 2xx; each Prometheus query whose instant result crosses its threshold (or
that its Prometheus does not answer or rejects). The first reason fires ``on_stop`` once,
from the poller thread, which is how a stop heals within one poll interval and not at the
next schedule tick.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from rpochaos.clock import Clock
from rpochaos.gameday.inventory import AnyInventory, Inventory, PrometheusStop
from rpochaos.gameday.probe import ProbeSide, connect

LAG_SQL = (
    "SELECT application_name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
    "FROM pg_stat_replication"
)
#: at least this many writes in the window before an error rate counts
MIN_WRITES = 5


class StopWatch:
    def __init__(
        self,
        inv: AnyInventory,
        probe: ProbeSide,
        clock: Clock,
        on_stop: Callable[[str], None],
        *,
        outage_started: Callable[[], bool],
    ) -> None:
        self.inv = inv
        self.cond = inv.stop_conditions
        self.probe = probe
        self.clock = clock
        self.on_stop = on_stop
        self.outage_started = outage_started
        self.fired: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stop-conditions", daemon=True)
        self._http = httpx.Client(trust_env=False)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        self._thread.join(5.0)
        self._http.close()

    def _loop(self) -> None:
        while not self._done.wait(self.cond.poll):
            reason = self.check()
            if reason is not None:
                self.fired = reason
                self.on_stop(reason)
                return

    def check(self) -> str | None:
        """The first stop condition that holds now, as a reason; None if none does."""
        now = self.clock.now()
        if now > self.inv.limits.max_total:
            return f"max total duration {self.inv.limits.max_total:g}s reached (t={now:.2f}s)"
        # once the declared outage began, errors and a missing primary are the experiment
        outage = self.outage_started()
        c = self.cond
        if c.max_error_rate is not None and not outage:
            rate, n = self.probe.error_rate(c.error_window)
            if n >= MIN_WRITES and rate > c.max_error_rate:
                return (
                    f"workload error rate {rate:.0%} over the last {c.error_window:g}s "
                    f"> {c.max_error_rate:.0%} ({n} writes)"
                )
        pg = self.inv if isinstance(self.inv, Inventory) else None  # Kafka: no SQL
        if c.max_lag_bytes is not None and not outage and pg is not None:
            reason = self._lag(pg, c.max_lag_bytes)
            if reason:
                return reason
        for s in c.sql:
            assert pg is not None, "a Kafka inventory has no SQL stop conditions"
            try:
                with connect(pg.nodes[s.node].conninfo, 1.0) as conn:
                    row = conn.execute(s.query).fetchone()
            except psycopg.Error as e:
                if outage:
                    continue
                return f"SQL stop condition on {s.node} failed: {type(e).__name__}"
            if row is not None and bool(row[0]):
                return f"SQL stop condition on {s.node} returned {row[0]!r}: {s.query}"
        for h in c.http:
            try:
                r = self._http.get(h.url, timeout=h.timeout)
                ok = 200 <= r.status_code < 300
                what = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                ok, what = False, type(e).__name__
            if not ok:
                return f"health check {h.url} answered {what}"
        for pq in c.prometheus:
            reason = prometheus_check(self._http, pq)
            if reason:
                return reason
        return None

    def _lag(self, inv: Inventory, limit: int) -> str | None:
        try:
            with connect(inv.nodes["primary"].conninfo, 1.0) as conn:
                rows = conn.execute(LAG_SQL).fetchall()
        except psycopg.Error:
            return None  # the primary unreachable is for the error rate to judge
        for name, lag in rows:
            if lag is not None and int(lag) > limit:
                return f"replication lag of {name} {int(lag)} bytes > {limit} bytes"
        return None


def prometheus_samples(data: Any) -> list[float]:
    """The values of a Prometheus ``/api/v1/query`` answer's ``data``: each series' value of
    a vector, the value of a scalar, each series' last value of a matrix; NaN left out.
    ValueError when ``data`` has none of these shapes."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        points = [result]
    elif kind == "vector":
        points = [series["value"] for series in result]
    elif kind == "matrix":
        points = [series["values"][-1] for series in result if series["values"]]
    else:
        raise ValueError(f"a {kind} result (a vector or scalar expected)")
    values = [float(point[1]) for point in points]
    return [v for v in values if not math.isnan(v)]


def prometheus_check(http: httpx.Client, stop: PrometheusStop) -> str | None:
    """Why the run must stop by ``stop`` now (the query crossed its threshold, or its
    Prometheus did not answer or refused the query), or None."""
    url = stop.url.rstrip("/") + "/api/v1/query"
    try:
        r = http.get(url, params={"query": stop.query}, timeout=stop.timeout)
        body = r.json()
    except (httpx.HTTPError, ValueError) as e:
        return f"Prometheus {stop.url} did not answer {stop.query!r}: {type(e).__name__}"
    if r.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
        why = body.get("error") if isinstance(body, dict) else None
        return f"Prometheus {stop.url} refused {stop.query!r}: {why or f'HTTP {r.status_code}'}"
    try:
        values = prometheus_samples(body["data"])
    except (KeyError, TypeError, IndexError, ValueError) as e:
        return f"Prometheus {stop.url} answered {stop.query!r} with {e}"
    for v in values:
        if (stop.above is not None and v > stop.above) or (
            stop.below is not None and v < stop.below
        ):
            return f"Prometheus {stop.query!r} = {v:g} {stop.threshold}"
    return None
