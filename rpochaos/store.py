"""The run directory: everything a run leaves behind, and loading it back for ``analyze``.

Layout of ``runs/<scenario>/<UTC timestamp>/`` (or ``--out DIR``)::

    scenario.yaml      the scenario file as given (when it came from a file)
    resolved.json      the resolved scenario (with its seed), backend, clock origin
    history.jsonl      the journal: invoke/complete lines, written as they happen
    seqs.json.gz       the whole sets of lost, recovered, phantom, unexpected seqs (as ranges)
    events.jsonl       phases, fault and action start/end times, on the harness clock
    final_read.json    the node read after recovery and every sequence number present
    result.json        the measurement and the verdict (recomputed by ``analyze``)
    observations.jsonl replication state sampled during the run (lag bytes/seconds, LSNs)
    report.html        one self-contained page: timeline, faults, lag, lost writes, summary
    metrics.openmetrics.txt  the headline numbers as OpenMetrics text
    pids.json          the servers this run started (for ``rpochaos gc``)
    logs/              one log per server (postgres nodes, toxiproxy)
    data/              data directories (removed at the end unless the topology is kept)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from rpochaos.history import History, Op
from rpochaos.history_read import read_columns
from rpochaos.jsonl import JsonlAppender, read_objects
from rpochaos.measure import FinalRead
from rpochaos.scenario import Scenario, Step, from_dict

RESOLVED = "resolved.json"
HISTORY = "history.jsonl"
EVENTS = "events.jsonl"
FINAL_READ = "final_read.json"
RESULT = "result.json"


def new_run_dir(root: Path, scenario_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    d = root / scenario_name / stamp
    d.mkdir(parents=True, exist_ok=False)
    return d


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented JSON, atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


class EventLog:
    """Append-only events.jsonl, one flushed line per event (a ``JsonlAppender``). Thread-safe;
    an event written after ``close`` is dropped."""

    def __init__(self, path: Path) -> None:
        self._out = JsonlAppender(path)

    def write(self, **event: object) -> None:
        self._out.append(event)

    def step_start(self, step: Step, resolved: str, t: float, instant: bool) -> None:
        """The ``step_start`` event: ``step`` began at ``t`` on ``resolved`` (the node or link
        its target names); ``instant`` when it has no lasting effect to heal."""
        self.write(
            type="step_start",
            index=step.index,
            action=step.action,
            target=step.target,
            resolved=resolved,
            t=t,
            outage=step.outage,
            instant=instant,
            params=step.params,
        )

    def close(self) -> None:
        self._out.close()


def read_events(path: Path) -> list[dict[str, object]]:
    """The events of events.jsonl in order ([] when missing); a cut line is skipped."""
    return list(read_objects(path))


@dataclass(frozen=True)
class StoredRun:
    path: Path
    scenario: Scenario
    meta: dict[str, object]  # resolved.json without the scenario
    history: History
    events: list[dict[str, object]]
    final: FinalRead | None

    @property
    def ops(self) -> list[Op]:
        """The history as one ``Op`` per operation (for small runs and tests)."""
        return self.history.ops()


def read_final(path: Path) -> FinalRead:
    """final_read.json: ``{"node": ..., "seqs": [...], "at_s": ...}``. Raises OSError when it
    cannot be read, ValueError naming the file and key when it is not one."""
    try:
        d = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e.msg})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(d).__name__}")
    seqs = d.get("seqs")
    if not isinstance(seqs, list):
        raise ValueError(f"{path}: key seqs: expected a list of integers, given {seqs!r:.60}")
    try:
        arr = np.array(seqs, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{path}: key seqs: expected a list of integers") from None
    if arr.ndim != 1 or (len(seqs) and not all(type(x) is int for x in (seqs[0], seqs[-1]))):
        raise ValueError(f"{path}: key seqs: expected a list of integers")
    at = d.get("at_s")
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise ValueError(f"{path}: key at_s: expected a number of seconds, given {at!r}")
    return FinalRead(node=str(d.get("node")), seqs=arr, at_s=float(at))


_cached: tuple[tuple[str, int, int], History] | None = None


def load_history(path: Path) -> History:
    """``read_columns(path)``, remembering the last history read: reading the same unchanged
    file again (``analyze`` then the report, in one process) returns it without a second
    parse. One history at most is kept."""
    global _cached
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _cached is not None and _cached[0] == key:
        return _cached[1]
    _cached = None
    history = read_columns(path)
    _cached = (key, history)
    return history


def load_run(path: Path) -> StoredRun:
    """Load a run directory. Raises FileNotFoundError if it is not one."""
    resolved = json.loads((path / RESOLVED).read_text())
    scenario = from_dict(resolved["scenario"])
    meta = {k: v for k, v in resolved.items() if k != "scenario"}
    hist = path / HISTORY
    history = load_history(hist) if hist.exists() else History.empty()
    events = read_events(path / EVENTS)
    fr = path / FINAL_READ
    final = read_final(fr) if fr.exists() else None
    return StoredRun(path, scenario, meta, history, events, final)
