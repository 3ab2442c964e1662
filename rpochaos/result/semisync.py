"""MariaDB semi-sync in the result: when the primary switched semi-sync off and on again, how
many acknowledged commits it made while it was off, and whether the old primary could follow
the new one after a failover (``Result.semi_sync``; None for other systems).

Read from the run directory alone: ``mariadb_observations.jsonl`` (the observer's
``semi_sync_off``/``semi_sync_on`` records, ``rpochaos.mariadb.observe``), the history, and
the ``rejoins`` final_read.json holds (``rpochaos.mariadb.cluster.Rejoin``).

A switch happened between a record's ``last_on_t`` (``last_off_t``) and its ``t``, one
sampling period apart. An acknowledged commit counts as made while semi-sync was off when the
primary that switched it off made it, and it completed from the last sample that still saw
it ON up to the first that saw it ON again (or the end of the run): a commit that waited out
the timeout returns OK at the switch itself, so it counts too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rpochaos.history import Op

OBSERVATIONS = "mariadb_observations.jsonl"  # rpochaos.mariadb.observe.OBSERVATIONS
FINAL_READ = "final_read.json"  # rpochaos.store.FINAL_READ


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SemiSyncOff(_Part):
    """One period with semi-sync OFF on the primary (harness seconds)."""

    node: str | None = None
    #: the first sample that saw it OFF (the switch was at most one sampling period earlier)
    off_s: float
    #: the last sample that still saw it ON
    last_on_s: float | None = None
    #: the first sample that saw it ON again; None: it stayed off (or the primary died)
    on_s: float | None = None
    #: acknowledged commits completed while it was off (module docstring)
    acked: int = 0
    #: of those, lost after the failover
    acked_lost: int = 0


class Rejoin(_Part):
    """The demoted primary pointed at the new one (``recover`` after a promotion)."""

    node: str
    source: str | None = None
    following: bool = False
    errno: int | None = None
    error: str = ""


class SemiSync(_Part):
    """Semi-sync as the servers reported it during the run."""

    interval_s: float | None = None
    off: list[SemiSyncOff] = Field(default_factory=list)
    #: every acknowledged commit made while semi-sync was off, over all periods
    acked_while_off: int = 0
    acked_while_off_lost: int = 0
    rejoins: list[Rejoin] = Field(default_factory=list)
    #: rows a second reader on the primary saw (``read`` records), and of those the ones
    #: missing after recovery: read but lost (AFTER_COMMIT shows rows before a replica has
    #: them); None when unknown (no final read)
    read: int = 0
    read_but_lost: int | None = None
    read_but_lost_seqs: list[int] = Field(default_factory=list)

    @property
    def first_off_s(self) -> float | None:
        return self.off[0].off_s if self.off else None

    def rejoin_lines(self) -> list[str]:
        """What became of each demoted primary, one line each, for the reports."""
        out = []
        for r in self.rejoins:
            if r.following:
                out.append(f"{r.node} follows {r.source} again")
            else:
                code = f"error {r.errno}" if r.errno is not None else "an error"
                out.append(
                    f"{r.node} could not follow {r.source} after the failover ({code}: "
                    f"{r.error.strip()[:240]}); it must be cloned again"
                )
        return out


def _records(path: Path) -> Iterable[dict[str, object]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def semi_sync(
    run_dir: Path,
    ops: list[Op],
    lost: Iterable[int],
    events: Iterable[dict[str, object]] = (),
    present: frozenset[int] | None = None,
) -> SemiSync | None:
    """The run's ``SemiSync``, or None when the run has no MariaDB observations."""
    obs = Path(run_dir) / OBSERVATIONS
    if not obs.exists():
        return None
    recs = list(_records(obs))
    periods: list[tuple[dict[str, object], dict[str, object] | None]] = []
    for rec in recs:
        if rec.get("type") == "semi_sync_off":
            periods.append((rec, None))
        elif rec.get("type") == "semi_sync_on" and periods and periods[-1][1] is None:
            periods[-1] = (periods[-1][0], rec)
    lost_set = set(lost)
    acked = [(op.complete_s, op.seq, op.node) for op in ops if op.outcome == "ok" and op.complete_s]
    off: list[SemiSyncOff] = []
    for down, up in periods:
        off_s = _num(down.get("t")) or 0.0
        last_on = _num(down.get("last_on_t"))
        on_s = _num(up.get("t")) if up else None
        start = last_on if last_on is not None else off_s
        node = str(down.get("node")) if down.get("node") is not None else None
        inside = [
            s
            for t, s, by in acked
            if t >= start and (on_s is None or t < on_s) and (node is None or by == node)
        ]
        off.append(
            SemiSyncOff(
                node=node,
                off_s=round(off_s, 6),
                last_on_s=None if last_on is None else round(last_on, 6),
                on_s=None if on_s is None else round(on_s, 6),
                acked=len(inside),
                acked_lost=sum(1 for s in inside if s in lost_set),
            )
        )
    rejoins: list[Rejoin] = []
    fr = Path(run_dir) / FINAL_READ
    if fr.exists():
        try:
            data = json.loads(fr.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        raw = data.get("rejoins") if isinstance(data, dict) else None
        for r in raw if isinstance(raw, list) else []:
            if isinstance(r, dict) and "node" in r:
                rejoins.append(Rejoin.model_validate(r))
    interval = next(
        (_num(e.get("interval_s")) for e in events if e.get("type") == "observer"), None
    )
    seen: set[int] = set()
    for rec in recs:
        got = rec.get("seqs") if rec.get("type") == "read" else None
        if isinstance(got, list):
            seen.update(int(x) for x in got if isinstance(x, int))
    gone = sorted(seen - present) if present is not None else []
    return SemiSync(
        read=len(seen),
        read_but_lost=None if present is None else len(gone),
        read_but_lost_seqs=gone,
        interval_s=interval,
        off=off,
        acked_while_off=sum(p.acked for p in off),
        acked_while_off_lost=sum(p.acked_lost for p in off),
        rejoins=rejoins,
    )
