"""Everything report.html shows, loaded from one run directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rpochaos.history import History
from rpochaos.measure import presence
from rpochaos.observe.postgres import OBSERVATIONS, read_observations
from rpochaos.report.html.svg import num
from rpochaos.result import RESULT, Result
from rpochaos.store import EVENTS, HISTORY, RESOLVED, load_history, read_events

#: one observer sample (observations.jsonl), as rpochaos.observe.postgres reads it
Sample = dict[str, Any]


@dataclass(frozen=True)
class RunData:
    """Everything the report shows, loaded from one run directory."""

    result: Result
    description: str  # the scenario's, from resolved.json ("" when absent)
    history: History
    event_times: tuple[float, ...]  # every event's t (for the time axis)
    started_wall: float | None  # wall-clock time the workload started (epoch seconds)
    observations: list[Sample]
    notes: tuple[str, ...] = ()  # problems met while loading, shown on the page
    #: per operation of ``history``, whether it is a lost acknowledged write
    lost: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))


def _description(run_dir: Path) -> str:
    if not (run_dir / RESOLVED).exists():
        return ""
    try:
        resolved = json.loads((run_dir / RESOLVED).read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    sc = resolved.get("scenario") if isinstance(resolved, dict) else None
    return str(sc.get("description") or "") if isinstance(sc, dict) else ""


def load_run_data(run_dir: Path) -> RunData:
    """Load ``run_dir``: result.json (recomputed in memory, and said so, when missing), the
    history as columns and which of its writes were lost (seqs.json.gz when result.json
    holds only part of them), the events' times, the observer's samples. Problems become
    ``notes``."""
    run_dir = Path(run_dir)
    notes: list[str] = []
    if (run_dir / RESULT).exists():
        result = Result.load(run_dir)
    else:
        from rpochaos.result import compute_result
        from rpochaos.store import load_run

        result = compute_result(load_run(run_dir))
        notes.append("result.json was missing: recomputed from the run directory")
    history = History.empty()
    if (run_dir / HISTORY).exists():
        try:
            history = load_history(run_dir / HISTORY)
        except ValueError as e:
            notes.append(f"history.jsonl could not be read: {e}")
    else:
        notes.append("no history.jsonl: no write was recorded")
    lost = np.zeros(len(history), bool)
    if result.writes.lost:
        try:
            lost = presence(history, result.seqs("lost", run_dir))[0]
        except ValueError as e:
            notes.append(f"the lost writes could not be read: {e}")
    events = read_events(run_dir / EVENTS)
    times = tuple(t for t in (num(e.get("t")) for e in events) if t is not None)
    wall = next(
        (
            w
            for e in events
            if e.get("name") == "workload_start" and (w := num(e.get("wall"))) is not None
        ),
        None,
    )
    return RunData(
        result=result,
        description=_description(run_dir),
        history=history,
        event_times=times,
        started_wall=wall,
        observations=read_observations(run_dir / OBSERVATIONS),
        notes=tuple(notes),
        lost=lost,
    )
