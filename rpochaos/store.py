"""The run directory: everything a run leaves behind, and loading it back for ``analyze``.

Layout of ``runs/<scenario>/<UTC timestamp>/`` (or ``--out DIR``)::

    scenario.yaml      the scenario file as given (when it came from a file)
    resolved.json      the resolved scenario (with its seed), backend, clock origin
    history.jsonl      the journal: invoke/complete lines, flushed as they happen
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

from rpochaos.history import Op, read_history
from rpochaos.jsonl import JsonlAppender, read_objects
from rpochaos.measure import FinalRead
from rpochaos.scenario import Scenario, from_dict

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
    ops: list[Op]
    events: list[dict[str, object]]
    final: FinalRead | None


def load_run(path: Path) -> StoredRun:
    """Load a run directory. Raises FileNotFoundError if it is not one."""
    resolved = json.loads((path / RESOLVED).read_text())
    scenario = from_dict(resolved["scenario"])
    meta = {k: v for k, v in resolved.items() if k != "scenario"}
    hist = path / HISTORY
    ops = read_history(hist) if hist.exists() else []
    events = read_events(path / EVENTS)
    final: FinalRead | None = None
    fr = path / FINAL_READ
    if fr.exists():
        d = json.loads(fr.read_text())
        final = FinalRead(node=d["node"], seqs=frozenset(d["seqs"]), at_s=float(d["at_s"]))
    return StoredRun(path, scenario, meta, ops, events, final)
