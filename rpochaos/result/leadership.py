"""Patroni's leadership record of a run (leadership.jsonl, written by
``rpochaos.patroni.watch``), read into the result: each change of leader, what the
failover came to (who was promoted, or Patroni's reason for refusing), and what the Patroni
logs said beyond that (``patroni_log``: synchronous standbys assigned, pg_rewinds, and the
writes acknowledged while the leader had none)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rpochaos.history import OK, History
from rpochaos.result.model import LeaderChange, PatroniLog, Rewind, SyncStandbys

LEADERSHIP = "leadership.jsonl"


@dataclass(frozen=True)
class Leadership:
    changes: list[LeaderChange] = field(default_factory=list)
    #: the last leader that was not the first one seen (None: the leadership never moved)
    promoted: str | None = None
    #: Patroni's own words for each refused failover
    refusals: list[str] = field(default_factory=list)
    #: synchronous-standby assignments during the run (t >= 0) and pg_rewinds
    sync_standbys: list[SyncStandbys] = field(default_factory=list)
    rewinds: list[Rewind] = field(default_factory=list)


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def read_leadership(run_dir: Path) -> Leadership:
    """The leadership of the run in ``run_dir`` (empty when it has no leadership.jsonl)."""
    from rpochaos.patroni.watch import read_leadership as records

    changes: list[LeaderChange] = []
    refusals: list[str] = []
    syncs: list[SyncStandbys] = []
    rewinds: list[Rewind] = []
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
        elif kind == "sync_standbys" and t >= 0:  # those of the bring-up are not the run's
            to = rec.get("to")
            names = [str(n) for n in to] if isinstance(to, list) else []
            syncs.append(SyncStandbys(t_s=float(t), node=str(rec.get("node")), to=names))
        elif kind == "rewind":
            code = rec.get("exit")
            if isinstance(code, int):
                rewinds.append(Rewind(t_s=float(t), node=str(rec.get("node")), exit_code=code))
    leaders = [c.to_node for c in changes if c.to_node is not None]
    promoted = leaders[-1] if leaders and leaders[-1] != first else None
    return Leadership(changes, promoted, refusals, syncs, rewinds)


def patroni_log(lead: Leadership, history: History, sync_mode: str | None) -> PatroniLog | None:
    """The result's ``patroni_log`` (None for a run that is not Patroni's: no leadership).

    ``acked_without_sync_standby`` (``sync_mode`` "on" only, else None): the acknowledged
    writes executed by a node from the moment it emptied its synchronous list until it
    assigned a standby again (or the run's end)."""
    if not lead.changes and not lead.sync_standbys and not lead.rewinds:
        return None
    alone: int | None = None
    first_s: float | None = None
    if sync_mode == "on":
        ok = history.outcome == OK
        done = history.complete_s
        alone = 0
        for i, change in enumerate(lead.sync_standbys):
            if change.to:
                continue
            later = [c.t_s for c in lead.sync_standbys[i + 1 :] if c.node == change.node and c.to]
            until = later[0] if later else math.inf
            code = history.code_of_node(change.node)
            hit = ok & (history.node == code) & (done >= change.t_s) & (done < until)
            alone += int(hit.sum())
            if hit.any():
                t = float(np.min(done[hit]))
                first_s = t if first_s is None else min(first_s, t)
    return PatroniLog(
        sync_standbys=lead.sync_standbys,
        rewinds=lead.rewinds,
        acked_without_sync_standby=alone,
        acked_without_sync_standby_from_s=None if first_s is None else round(first_s, 6),
    )
