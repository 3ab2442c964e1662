"""A literal run directory for the report and result tests (pure: no server runs).

``make_run_dir`` writes a run directory as a run would leave it — resolved.json from a real
scenario, history.jsonl through the Journal, events.jsonl, final_read.json, result.json via
``analyze`` and (optionally) observations.jsonl — for an async partition at 2 s, a crash of the
primary at 4 s and a promote at 4.5 s: every write acknowledged in [2, 4) s is lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rpochaos.history import Journal, Outcome
from rpochaos.observe.postgres import OBSERVATIONS
from rpochaos.result import analyze
from rpochaos.scenario import loads, to_dict
from rpochaos.store import EVENTS, FINAL_READ, HISTORY, RESOLVED, write_json

SCENARIO = """
name: literal-async
description: DESCRIPTION
system: postgres
seed: 7
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: async
workload:
  rate: 100/s
  duration: 6s
schedule:
  - at: 2s
    partition: replica1->primary
    mode: blackhole
  - at: 4s
    crash: primary
    outage: true
  - at: 4500ms
    promote: replica1
expect:
  rpo: 1s
"""
RATE = 100
CUT, CRASH, PROMOTE, BACK, END = 2.0, 4.0, 4.5, 4.6, 6.0


def _observations(path: Path) -> None:
    lines = []
    for i in range(int(END * 10) + 1):
        t = i / 10
        s: dict[str, Any] = {"t": t, "primary": "primary", "error": None, "replicas": []}
        if CRASH <= t < BACK:
            s["error"] = "primary: OperationalError: connection refused"
        elif t >= BACK:
            s["primary"] = "replica1"
        else:
            lag = 0 if t < CUT else int((t - CUT) * 80_000)
            s["replicas"] = [
                {
                    "name": "replica1",
                    "connected": True,
                    "state": "streaming",
                    "lag_bytes": lag,
                    "flush_lag_s": 0.0005 if t < CUT else None,
                    "replay_lag_s": 0.0006 if t < CUT else None,
                    "stalled_s": 0.0 if t < CUT else round(t - CUT, 3),
                }
            ]
        lines.append(json.dumps(s))
    path.write_text("\n".join(lines) + "\n")


def make_run_dir(
    d: Path,
    *,
    description: str = "async partition, crash, promote",
    observations: bool = True,
    final_read: bool = True,
) -> dict[str, Any]:
    """Write a complete run directory into ``d``; return its result.json."""
    d.mkdir(parents=True, exist_ok=True)
    sc = loads(SCENARIO.replace("DESCRIPTION", json.dumps(description)))
    write_json(
        d / RESOLVED,
        {
            "scenario": to_dict(sc),
            "scenario_path": "scenarios/literal-async.yaml",
            "seed": 7,
            "backend": "local",
            "durability": {"synchronous_commit": "on", "synchronous_standby_names": ""},
            "versions": {"postgres": "PostgreSQL 15.99", "toxiproxy": "v2.12.0"},
        },
    )
    present: list[int] = []
    with Journal(d / HISTORY) as j:
        for i in range(int(END * RATE)):
            t = i / RATE
            seq = i + 1
            j.invoke(seq, t)
            done = t + 0.004
            if t < CRASH:
                j.complete(seq, done, Outcome.OK, node="primary")
                if not CUT <= done < CRASH:
                    present.append(seq)
            elif t < BACK:
                j.complete(seq, done, Outcome.FAIL, node=None)
            else:
                j.complete(seq, done, Outcome.OK, node="replica1")
                present.append(seq)
    events = [
        {"type": "phase", "name": "workload_start", "t": 0.0, "wall": 1_700_000_000.0},
        {
            "type": "step_start",
            "index": 0,
            "action": "partition",
            "target": "replica1->primary",
            "t": CUT,
            "outage": False,
            "instant": False,
            "params": {"mode": "blackhole", "direction": "both"},
        },
        {
            "type": "step_start",
            "index": 1,
            "action": "crash",
            "target": "primary",
            "t": CRASH,
            "outage": True,
            "instant": True,
            "params": {},
        },
        {
            "type": "step_start",
            "index": 2,
            "action": "promote",
            "target": "replica1",
            "t": PROMOTE,
            "outage": False,
            "instant": True,
            "params": {},
        },
        {"type": "failover", "promoted": "replica1", "t": PROMOTE + 0.05},
        {"type": "phase", "name": "workload_stop", "t": END},
        {"type": "step_end", "index": 0, "t": END + 0.01},
    ]
    (d / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events))
    if final_read:
        write_json(d / FINAL_READ, {"node": "replica1", "at_s": END + 0.02, "seqs": present})
    if observations:
        _observations(d / OBSERVATIONS)
    return analyze(d)
