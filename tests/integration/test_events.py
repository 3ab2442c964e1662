"""The run record's fault times through the runner, on real PostgreSQL and Toxiproxy: every
step is stamped when asked for (step_start) and when its action returned (step_effective);
heals and the outage carry the time they were asked for (requested_t) beside the time they
took effect (t). Every event kept its fields as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rpochaos.run import run
from rpochaos.scenario import loads

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCENARIO = """
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
workload: {rate: 200/s, concurrency: 2, duration: 5s, connect_timeout: 1s}
schedule:
  - {at: 1s, partition: replica1->primary, mode: blackhole, for: 1s}
  - {at: 2500ms, latency: client->primary, delay: 20ms, for: 500ms}
  - {at: 3500ms, crash: primary, outage: true}
  - {at: 4s, promote: replica1}
expect: {rpo: 10s}
"""

#: the fields every event of these types had before step_effective and requested_t
STEP_START = {"type", "index", "action", "target", "resolved", "t", "outage", "instant", "params"}


def _events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_steps_record_requested_and_effective_times(real_pg: None, tmp_path: Path) -> None:
    res = run(loads(SCENARIO), out=tmp_path / "r")
    events = _events(res.run_dir)
    starts = {e["index"]: e for e in events if e["type"] == "step_start"}
    effective = {e["index"]: e for e in events if e["type"] == "step_effective"}
    ends = {e["index"]: e for e in events if e["type"] == "step_end"}
    (outage,) = [e for e in events if e["type"] == "outage"]

    assert sorted(starts) == sorted(effective) == [0, 1, 2, 3]
    for i, s in starts.items():
        assert set(s) == STEP_START
        assert set(effective[i]) == {"type", "index", "t"}
        # after its step_start, and (the Toxiproxy call, the kill) not instantaneous
        assert s["t"] < effective[i]["t"] < s["t"] + 5.0
        assert events.index(s) < events.index(effective[i])
    # the two lasting faults were healed by the schedule: asked for, then done
    assert sorted(ends) == [0, 1]
    for i, e in ends.items():
        assert set(e) == {"type", "index", "t", "requested_t"}
        assert effective[i]["t"] < e["requested_t"] <= e["t"]
    assert ends[0]["requested_t"] == pytest.approx(2.0, abs=0.1)
    # the crash's outage: t when its processes were dead, requested_t its step_start
    assert set(outage) == {"type", "index", "t", "requested_t"}
    assert outage["index"] == 2
    assert outage["requested_t"] == starts[2]["t"]
    assert starts[2]["t"] < outage["t"] <= effective[2]["t"]
    # the result is measured from t, as before
    assert res.result["outage_at_s"] == pytest.approx(outage["t"], abs=1e-6)
