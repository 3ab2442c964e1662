"""Failover policy: which replica to promote, or whether to refuse.

``most_up_to_date`` picks the candidate with the highest received WAL position
(``pg_last_wal_receive_lsn()``), the way Patroni does. With a ``max_lag_bytes`` guard the
failover is refused when the chosen replica is further behind the last primary position the
harness saw than that (Patroni's ``maximum_lag_on_failover``): an outage with no recovery,
rather than a promotion that silently drops data. ``LsnTracker`` remembers that last position
by sampling the primary's ``pg_current_wal_lsn()`` on the harness side.

``failover`` and ``restore`` carry out a schedule's ``promote`` and ``restore`` steps and
return the run record's event for each (``failover`` or ``failover_refused``) with the line
the run log prints; the runner only writes them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import TupleRow

if TYPE_CHECKING:
    from rpochaos.roles import Cluster, PositionPromoting, Promoting, Restoring
    from rpochaos.scenario import Step


def lsn_to_int(lsn: str) -> int:
    """'16/B374D848' -> byte position."""
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@dataclass(frozen=True)
class Decision:
    chosen: str | None  # None when refused or no candidate answered
    refused: bool
    reason: str
    received: dict[str, int | None] = field(default_factory=dict)  # candidate -> LSN (bytes)
    last_primary_lsn: int | None = None
    #: what ``received`` counts: WAL bytes (PostgreSQL), or a system's own position unit
    unit: str = "byte"

    def to_event(self) -> dict[str, object]:
        if self.unit != "byte":
            return {
                "chosen": self.chosen,
                "refused": self.refused,
                "reason": self.reason,
                "received_position": self.received,
                "position_unit": self.unit,
            }
        return {
            "chosen": self.chosen,
            "refused": self.refused,
            "reason": self.reason,
            "received_lsn": self.received,
            "last_primary_lsn": self.last_primary_lsn,
        }


#: opens a new connection to the named node (raises psycopg.Error when it does not answer)
Connect = Callable[[str], "psycopg.Connection[TupleRow]"]


def received_lsn(connect: Connect, node: str) -> int | None:
    """The WAL position a standby has received, or None if it does not answer."""
    try:
        with connect(node) as c:
            row = c.execute(
                "SELECT coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text"
            ).fetchone()
    except psycopg.Error:
        return None
    return lsn_to_int(row[0]) if row and row[0] else None


def decide(
    connect: Connect,
    candidates: Sequence[str],
    last_primary_lsn: int | None,
    max_lag_bytes: int | None,
) -> Decision:
    """Pick the most up-to-date candidate; refuse if it lags more than ``max_lag_bytes``."""
    received = {n: received_lsn(connect, n) for n in candidates}
    return choose(received, candidates, last_primary_lsn, max_lag_bytes)


def choose(
    received: dict[str, int | None],
    candidates: Sequence[str],
    last_primary_lsn: int | None,
    max_lag_bytes: int | None,
    unit: str = "byte",
) -> Decision:
    """``decide`` on positions already read (``unit`` words one step of them)."""
    alive = {n: lsn for n, lsn in received.items() if lsn is not None}
    if not alive:
        return Decision(
            None, True, "no candidate replica answered", received, last_primary_lsn, unit
        )
    best = max(alive, key=lambda n: (alive[n], -candidates.index(n)))
    lag = None if last_primary_lsn is None else max(0, last_primary_lsn - alive[best])
    where = f"{best} received up to {unit} {alive[best]}"
    if lag is not None:
        where += f", {lag} bytes behind the last primary position seen"
    if max_lag_bytes is not None and lag is not None and lag > max_lag_bytes:
        return Decision(
            None,
            True,
            f"refused: {where} > max_lag {max_lag_bytes} bytes",
            received,
            last_primary_lsn,
            unit,
        )
    return Decision(best, False, f"chose {where}", received, last_primary_lsn, unit)


class LsnTracker:
    """Samples the current primary's WAL position every ``interval_s`` in a thread."""

    def __init__(
        self, connect_primary: Callable[[], psycopg.Connection[TupleRow]], interval_s: float = 0.1
    ) -> None:
        self._connect = connect_primary
        self.interval_s = interval_s
        self.last: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lsn-tracker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _loop(self) -> None:
        conn: psycopg.Connection[TupleRow] | None = None
        while not self._stop.wait(self.interval_s):
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                row = conn.execute(
                    "SELECT pg_current_wal_lsn()::text WHERE NOT pg_is_in_recovery()"
                ).fetchone()
                if row:
                    self.last = lsn_to_int(row[0])
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


#: what a failover step gives the runner: the event to record, and the line to log
Recorded = tuple[dict[str, object], str]


def failover(
    cluster: Cluster,
    promoting: Promoting,
    step: Step,
    last_primary_lsn: int | None,
    now: Callable[[], float],
) -> Recorded:
    """Carry out a ``promote`` step: ``decide`` among its candidates (the named target, or
    for ``most_up_to_date`` the listed candidates, by default every node but the first),
    then promote the choice unless refused."""
    p = step.params
    policy = str(p.get("policy", "named"))
    max_lag = p.get("max_lag_bytes")
    if policy == "most_up_to_date":
        cands = p.get("candidates") or list(cluster.nodes)[1:]
    else:
        cands = [step.target]
    assert isinstance(cands, list)
    decision = decide(
        promoting.connect,
        [str(c) for c in cands],
        last_primary_lsn,
        int(max_lag) if isinstance(max_lag, int | float) else None,
    )
    return _carry_out(decision, promoting.promote, now)


def failover_by_position(
    cluster: Cluster, promoting: PositionPromoting, step: Step, now: Callable[[], float]
) -> Recorded:
    """``failover`` for a cluster that compares candidates by its own position
    (``PositionPromoting``): the same policies, no lag guard (validation refuses max_lag)."""
    p = step.params
    if str(p.get("policy", "named")) == "most_up_to_date":
        cands = p.get("candidates") or list(cluster.nodes)[1:]
    else:
        cands = [step.target]
    assert isinstance(cands, list)
    names = [str(c) for c in cands]
    received = {n: promoting.received_position(n) for n in names}
    decision = choose(received, names, None, None, promoting.position_unit)
    return _carry_out(decision, promoting.promote, now)


def _carry_out(
    decision: Decision, promote: Callable[[str], None], now: Callable[[], float]
) -> Recorded:
    if decision.refused or decision.chosen is None:
        t = now()
        return (
            {"type": "failover_refused", "t": t, **decision.to_event()},
            f"t={t:6.2f}s  failover {decision.reason}",
        )
    promote(decision.chosen)
    t = now()
    return (
        {"type": "failover", "promoted": decision.chosen, "t": t, **decision.to_event()},
        f"t={t:6.2f}s  {decision.chosen} is the primary ({decision.reason})",
    )


def restore(restoring: Restoring, target: str, now: Callable[[], float]) -> Recorded:
    """Carry out a ``restore`` step: rebuild the dead primary ``target`` from the base backup
    and the WAL archive; the workload's link to it now reaches the restored server, and the
    final read reads it. Recorded as a failover (the report's failover line says what was
    restored, up to where)."""
    restored = restoring.restore(target)
    reason = restored.describe()
    t = now()
    event: dict[str, object] = {
        "type": "failover",
        "promoted": target,
        "restored_from_archive": True,
        "t": t,
        "chosen": target,
        "refused": False,
        "reason": reason,
        "last_archived_segment": restored.last_segment,
        "archived_segments": restored.segments,
        "replayed_to_lsn": restored.replayed_to,
        "timeline": restored.timeline,
    }
    return event, f"t={t:6.2f}s  {reason}"
