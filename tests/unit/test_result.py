"""result.json from the typed model: today's keys and values, key for key, on stored run
directories; the model reads old and partial result.json; fault intervals and the window's
resolution from literal event lists and histories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rpochaos.history import Op, Outcome
from rpochaos.measure import Verdict
from rpochaos.result import (
    RESULT,
    AckSpacing,
    Result,
    ResultFormatError,
    analyze,
    analyze_result,
    faults_from_events,
    outage_at,
    outage_requested_at,
)
from rpochaos.result.timing import ack_spacing, window_resolution
from rpochaos.store import EVENTS, FINAL_READ
from tests.unit.run_dirs import make_run_dir

DATA = Path(__file__).parent / "data"
REAL = DATA / "run-pg-async-lag-within-rpo"
EXPECTED = DATA / "expected"

#: the keys issue 19 added; everything else is exactly as before the typed model
NEW_KEYS = {"outage_requested_at_s", "window_resolution_s", "ack_spacing_s"}
NEW_FAULT_KEYS = {"requested_start_s", "effective_start_s", "requested_end_s", "effective_end_s"}


#: the sequence lists result.json had before ranges (issue 17), by their set's name
OLD_LISTS = {
    "lost_seqs": "lost",
    "phantom_seqs": "phantom",
    "unexpected_seqs": "unexpected",
    "lost_after_cancelled_sync_wait": "lost_after_cancelled_sync_wait",
}


def _without_new_keys(r: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in r.items() if k not in NEW_KEYS}
    out["faults"] = [{k: v for k, v in f.items() if k not in NEW_FAULT_KEYS} for f in r["faults"]]
    return out


def _ranges(seqs: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for s in seqs:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def _as_ranges(old: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """``old`` (a result.json with sequence lists) in today's shape: the same counts, each list
    as its ranges; the recovered set, which old files did not list, and the name of the seqs
    file taken from ``got`` (its recovered ranges must add up to the recovered count)."""
    w, gw = old["writes"], got["writes"]
    rec = gw["seq_ranges"]["recovered"]
    assert sum(b - a + 1 for a, b in rec) == w["recovered"]
    writes = {k: v for k, v in w.items() if k not in OLD_LISTS}
    writes["lost_after_cancelled_sync_wait"] = len(w["lost_after_cancelled_sync_wait"])
    ranges = {kind: _ranges(w[key]) for key, kind in OLD_LISTS.items()}
    writes["seq_ranges"] = {
        k: rec if k == "recovered" else ranges[k]
        for k in ("lost", "recovered", "phantom", "unexpected", "lost_after_cancelled_sync_wait")
    }
    writes["seq_ranges_truncated"] = []
    writes["seqs_file"] = gw["seqs_file"]
    return {**old, "writes": writes}


def _same(a: object, b: object, where: str = "") -> None:
    """Equal key for key, list item for list item, and of the same JSON type (1 is not 1.0)."""
    assert type(a) is type(b), f"{where}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        assert isinstance(b, dict)
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list)
        assert len(a) == len(b), f"{where}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def _expected(name: str, run_dir: Path) -> dict[str, Any]:
    e: dict[str, Any] = json.loads((EXPECTED / name).read_text())
    e["run_dir"] = str(run_dir)
    return e


def _real(tmp_path: Path, *, old_layout: bool = False) -> Path:
    d = tmp_path / "real"
    shutil.copytree(REAL, d)
    if old_layout:
        ev = [x for x in (d / EVENTS).read_text().splitlines() if '"type":"outage"' not in x]
        (d / EVENTS).write_text("\n".join(ev) + "\n")
        (d / "observations.jsonl").unlink()
    return d


@pytest.mark.parametrize("old_layout", [False, True])
def test_stored_real_run_gives_todays_result_json_key_for_key(
    tmp_path: Path, old_layout: bool
) -> None:
    d = _real(tmp_path, old_layout=old_layout)
    got = analyze(d)
    name = "real-old-layout.json" if old_layout else "real.json"
    _same(_without_new_keys(got), _as_ranges(_expected(name, d), got))
    assert set(got) >= NEW_KEYS
    assert all(set(f) >= NEW_FAULT_KEYS for f in got["faults"])
    # the file is the model's dump, byte for byte what analyze returned
    assert json.loads((d / RESULT).read_text()) == got


@pytest.mark.parametrize("final_read", [True, False])
def test_literal_run_gives_todays_result_json_key_for_key(tmp_path: Path, final_read: bool) -> None:
    d = tmp_path / "lit"
    got = make_run_dir(d, final_read=final_read, observations=final_read)
    name = "literal.json" if final_read else "literal-unknown.json"
    _same(_without_new_keys(got), _as_ranges(_expected(name, d), got))


def test_typed_entry_equals_the_dict(tmp_path: Path) -> None:
    d = _real(tmp_path)
    typed = analyze_result(d)
    assert typed.to_dict() == json.loads((d / RESULT).read_text())
    loaded = Result.load(d)
    assert loaded == typed == Result.from_dict(typed.to_dict())
    assert loaded.verdict is Verdict.PASS and loaded.writes.lost == 92
    assert loaded.replica_modes() == {"replica1": "async"}
    assert loaded.settings_in_force()["synchronous_commit"] == "on"
    assert loaded.observed.replicas["replica1"].max_lag_bytes == 22008
    # this run predates step_effective and requested_t: those are unknown, not guessed ...
    latency = loaded.faults[0]
    assert latency.kind == "latency" and latency.requested_start_s == latency.start_s
    assert latency.effective_start_s is None and latency.start_gap_s is None
    assert latency.requested_end_s is None and latency.effective_end_s == latency.end_s
    assert loaded.outage_requested_at_s is None and loaded.outage_gap_s is None
    # ... except the outage step's, whose outage event is by definition its effective time
    crash = loaded.faults[1]
    assert crash.instant and crash.effective_start_s == pytest.approx(5.077572, abs=1e-6)
    # the window's resolution: 400 writes/s over 4 workers
    assert loaded.window_resolution_s is not None
    assert 0 < loaded.window_resolution_s < 0.02


def test_old_and_partial_result_json_load(tmp_path: Path) -> None:
    r = Result.from_dict({"scenario": "s", "verdict": "FAIL", "writes": {"lost": 3}})
    assert r.writes.lost == 3 and r.writes.acknowledged == 0
    assert r.data_loss_window_s is None and r.window_resolution_s is None and r.faults == []
    assert r.ack_spacing_s == AckSpacing()
    # an older result.json: no new keys, faults without interval ends
    old = json.loads((EXPECTED / "real.json").read_text())
    r = Result.from_dict(old)
    assert r.faults[0].effective_start_s is None and r.outage_requested_at_s is None
    assert _without_new_keys(r.to_dict()) == _as_ranges(old, r.to_dict())
    # unknown keys from a newer rpochaos are ignored
    assert Result.from_dict({**old, "from_the_future": 1}) == r


def test_a_broken_result_json_names_file_and_key(tmp_path: Path) -> None:
    p = tmp_path / RESULT
    p.write_text(json.dumps({"writes": {"lost": "many"}}))
    with pytest.raises(ResultFormatError) as e:
        Result.load(tmp_path)
    assert str(p) in str(e.value) and "writes.lost" in str(e.value) and "'many'" in str(e.value)
    p.write_text("{")
    with pytest.raises(ResultFormatError, match="invalid JSON"):
        Result.load(p)
    p.write_text("[]")
    with pytest.raises(ResultFormatError, match="expected a JSON object"):
        Result.load(p)


# -- issue 19: intervals from literal events ---------------------------------------------------

NEW_EVENTS: list[dict[str, Any]] = [
    {"type": "phase", "name": "workload_start", "t": 0.0},
    {
        "type": "step_start",
        "index": 0,
        "action": "partition",
        "target": "replica1->primary",
        "t": 2.0,
        "outage": False,
        "instant": False,
        "params": {"mode": "blackhole"},
    },
    {"type": "step_effective", "index": 0, "t": 2.0042},
    {
        "type": "step_start",
        "index": 1,
        "action": "crash",
        "target": "primary",
        "t": 4.0,
        "outage": True,
        "instant": True,
        "params": {},
    },
    {"type": "step_effective", "index": 1, "t": 4.061},
    {"type": "outage", "index": 1, "t": 4.061, "requested_t": 4.0},
    {
        "type": "step_start",
        "index": 2,
        "action": "latency",
        "target": "client->primary",
        "t": 1.0,
        "outage": False,
        "instant": False,
        "params": {"delay": 0.1},
    },
    {"type": "step_effective", "index": 2, "t": 1.0003},
    {"type": "step_end", "index": 2, "t": 3.0026, "requested_t": 3.0},
    {"type": "step_end", "index": 0, "t": 6.01, "requested_t": 6.0},
]


def test_faults_carry_requested_and_effective_ends() -> None:
    latency, partition, crash = faults_from_events(NEW_EVENTS)  # ordered by start
    assert (latency.kind, partition.kind, crash.kind) == ("latency", "partition", "crash")
    assert partition.start_s == partition.requested_start_s == 2.0
    assert partition.effective_start_s == 2.0042
    assert partition.requested_end_s == 6.0 and partition.end_s == partition.effective_end_s == 6.01
    assert partition.start_gap_s == pytest.approx(0.0042)
    assert partition.end_gap_s == pytest.approx(0.01)
    assert latency.start_gap_s == pytest.approx(0.0003)  # under 1 ms: not shown by reports
    assert crash.instant and crash.end_s == crash.start_s == 4.0
    assert crash.effective_start_s == crash.effective_end_s == 4.061
    assert crash.requested_end_s == 4.0 and crash.end_gap_s is None
    assert outage_at(NEW_EVENTS) == 4.061
    assert outage_requested_at(NEW_EVENTS) == 4.0


def test_old_events_leave_the_new_ends_unknown() -> None:
    old = [
        {k: v for k, v in e.items() if k != "requested_t"}
        for e in NEW_EVENTS
        if e["type"] not in ("step_effective", "outage")
    ]
    latency, partition, crash = faults_from_events(old)
    assert partition.effective_start_s is None and partition.requested_end_s is None
    assert partition.start_gap_s is None and partition.end_gap_s is None
    assert partition.end_s == 6.01 and latency.end_s == 3.0026
    assert crash.effective_start_s is None and crash.effective_end_s is None
    assert outage_at(old) == 4.0  # the outage step's start, as before
    assert outage_requested_at(old) is None


def test_a_step_never_healed_has_no_end() -> None:
    (f,) = faults_from_events([NEW_EVENTS[1], NEW_EVENTS[2]])
    assert f.end_s is None and f.effective_end_s is None and f.requested_end_s is None
    assert not f.instant and f.end_gap_s is None


def _op(seq: int, done: float) -> Op:
    return Op(seq=seq, invoke_s=done - 0.001, complete_s=done, outcome=Outcome.OK)


def test_ack_spacing_around_the_recovery_point_and_the_outage() -> None:
    # acks every 2 ms until 2.000, a gap of 2.6 ms to the first lost one, then every 2.5 ms
    # until 3.990; the outage at 4.000
    times = [i * 0.002 for i in range(1001)]
    times += [2.0026 + i * 0.0025 for i in range(796)]
    ops = [_op(i + 1, t) for i, t in enumerate(times)]
    failed = Op(seq=99_999, invoke_s=3.995, complete_s=3.999, outcome=Outcome.FAIL)
    s = ack_spacing([*ops, failed], recovery_point_s=2.0, window_end_s=4.0)
    assert s.recovery_point_s == pytest.approx(0.0026)  # the larger neighbouring gap
    assert s.outage_s == pytest.approx(0.0025)  # failed writes are not acknowledgements
    assert window_resolution(s, 2.0, lost=796) == pytest.approx(0.0026)
    assert window_resolution(s, 0.0, lost=0) is None  # nothing lost: the 0 is exact
    assert window_resolution(s, None, lost=3) is None
    assert ack_spacing([], 1.0, 2.0) == AckSpacing()
    one = ack_spacing([_op(1, 1.0)], 1.0, 2.0)
    assert one.recovery_point_s is None and one.outage_s is None


def test_a_run_with_the_new_events_reports_them(tmp_path: Path) -> None:
    d = tmp_path / "run"
    make_run_dir(d)
    events = [json.loads(x) for x in (d / EVENTS).read_text().splitlines()]
    out = []
    for e in events:
        out.append(e)
        if e["type"] == "step_start":
            out.append({"type": "step_effective", "index": e["index"], "t": e["t"] + 0.003})
            if e["outage"]:
                out.append(
                    {
                        "type": "outage",
                        "index": e["index"],
                        "t": e["t"] + 0.003,
                        "requested_t": e["t"],
                    }
                )
        if e["type"] == "step_end":
            e["requested_t"] = e["t"] - 0.002
    (d / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in out))
    r = analyze_result(d)
    assert r.outage_at_s == pytest.approx(4.003) and r.outage_requested_at_s == 4.0
    assert r.outage_gap_s == pytest.approx(0.003)
    part = r.faults[0]
    assert part.kind == "partition" and part.start_gap_s == pytest.approx(0.003)
    assert part.end_gap_s == pytest.approx(0.002)
    # 100 writes/s: acknowledgements 10 ms apart at both ends
    assert r.ack_spacing_s.recovery_point_s == pytest.approx(0.01)
    assert r.ack_spacing_s.outage_s == pytest.approx(0.01)
    assert r.window_resolution_s == pytest.approx(0.01)
    assert (d / FINAL_READ).exists()
