"""Patroni's leadership record of a run (leadership.jsonl, written by
``rpochaos.patroni.watch``), read into the result: each change of leader, and what the
failover came to (who was promoted, or Patroni's reason for refusing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rpochaos.result.model import LeaderChange

LEADERSHIP = "leadership.jsonl"


@dataclass(frozen=True)
class Leadership:
    changes: list[LeaderChange] = field(default_factory=list)
    #: the last leader that was not the first one seen (None: the leadership never moved)
    promoted: str | None = None
    #: Patroni's own words for each refused failover
    refusals: list[str] = field(default_factory=list)


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def read_leadership(run_dir: Path) -> Leadership:
    """The leadership of the run in ``run_dir`` (empty when it has no leadership.jsonl)."""
    from rpochaos.patroni.watch import read_leadership as records

    changes: list[LeaderChange] = []
    refusals: list[str] = []
    first: str | None = None
    for rec in records(run_dir / LEADERSHIP):
        kind = rec.get("type")
        t = rec.get("t")
        if not isinstance(t, int | float):
            continue
        if kind == "leader_change":
            tl = rec.get("timeline")
            change = LeaderChange(
                t_s=float(t),
                from_node=_opt_str(rec.get("from")),
                to_node=_opt_str(rec.get("to")),
                timeline=tl if isinstance(tl, int) else None,
            )
            if change.from_node is None and not changes and first is None:
                first = change.to_node  # the leader seen at the start
                continue
            changes.append(change)
        elif kind == "leader_timeline" and changes:
            last = changes[-1]
            tl = rec.get("timeline")
            if last.to_node == rec.get("leader") and isinstance(tl, int):
                changes[-1] = last.model_copy(update={"timeline": tl})
        elif kind == "failover_refused":
            refusals.append(f"{rec.get('node')}: {rec.get('reason')}")
    leaders = [c.to_node for c in changes if c.to_node is not None]
    promoted = leaders[-1] if leaders and leaders[-1] != first else None
    return Leadership(changes, promoted, refusals)
