"""The console summary, from literal results: what each line says, the window's resolution and
the requested-to-effective gaps (shown only above 1 ms, never for unknown)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from rpochaos.report.summary import fault_text, lines, render, window_text
from rpochaos.result import Fault, Result


def _result(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scenario": "s1",
        "seed": 3,
        "backend": "local",
        "run_dir": "/runs/s1/x",
        "verdict": "FAIL",
        "reasons": ["data-loss window 3.01 s > RPO 1.00 s"],
        "rpo_declared_s": 1.0,
        "writes": {"attempted": 10, "acknowledged": 8, "lost": 2, "holes": 0},
        "recovery_point_s": 1.0,
        "outage_at_s": 4.008,
        "data_loss_window_s": 3.008,
        "rto_s": 0.5,
        "faults": [
            {
                "kind": "partition",
                "target": "replica1->primary",
                "start_s": 1.0,
                "end_s": 6.0,
                "params": {},
                "outage": False,
                "requested_start_s": 1.0,
                "effective_start_s": 1.0042,
                "requested_end_s": 5.9995,
                "effective_end_s": 6.0,
            },
            {
                "kind": "crash",
                "target": "primary",
                "start_s": 4.0,
                "end_s": 4.0,
                "outage": True,
                "requested_start_s": 4.0,
                "effective_start_s": 4.008,
            },
        ],
        "durability": {"synchronous_commit": "on", "replicas": {"replica1": "async"}},
        "failover": {"promoted": "replica1", "final_read_node": "replica1"},
        "reproduce": "rpochaos run s1.yaml --seed 3 --backend local",
        "outage_requested_at_s": 4.0,
        "window_resolution_s": 0.0026,
        "ack_spacing_s": {"recovery_point_s": 0.0026, "outage_s": 0.0025},
    }
    base.update(over)
    return base


def test_every_line_says_what_it_should() -> None:
    out = lines(_result())
    assert out[0] == (
        "lost 2 of 8 acknowledged writes (attempted 10; recovered 0, phantom 0, unexpected 0, "
        "holes 0)"
    )
    assert out[1] == (
        "data-loss window 3.008 s ± 2.6 ms vs RPO 1.000 s   (recovery point 1.000 s, "
        "outage at 4.008 s (requested 4.000 s, +8.0 ms))"
    )
    assert out[2] == "RTO 0.500 s   (promoted: replica1; final read on: replica1)"
    assert out[3] == "durability: synchronous_commit=on; replicas: replica1=async"
    assert out[4] == (
        "schedule: partition replica1->primary @1.00s-6.00s (took effect +4.2 ms); "
        "crash primary @4.00s (took effect +8.0 ms)"
    )
    assert out[5] == "why: data-loss window 3.01 s > RPO 1.00 s"
    assert out[-2:] == [
        "run dir: /runs/s1/x",
        "reproduce: rpochaos run s1.yaml --seed 3 --backend local",
    ]


def test_gaps_of_a_millisecond_or_less_and_unknown_ones_are_not_shown() -> None:
    f = Fault(
        kind="latency",
        target="a->b",
        start_s=1.0,
        end_s=2.0,
        requested_start_s=1.0,
        effective_start_s=1.001,
        requested_end_s=1.9,
        effective_end_s=2.0,
    )
    assert fault_text(f) == "latency a->b @1.00s-2.00s (healed +100.0 ms)"
    old = Fault(kind="latency", target="a->b", start_s=1.0, end_s=2.0)
    assert fault_text(old) == "latency a->b @1.00s-2.00s"
    never = Fault(kind="partition", target="a->b", start_s=1.0)
    assert fault_text(never) == "partition a->b @1.00s"
    # an old result (no request times, no resolution): the line reads as it always did
    old_result = _result(outage_requested_at_s=None, window_resolution_s=None, faults=[])
    assert lines(old_result)[1] == (
        "data-loss window 3.008 s vs RPO 1.000 s   (recovery point 1.000 s, outage at 4.008 s)"
    )


def test_window_text() -> None:
    assert window_text(Result.from_dict(_result())) == "3.008 s ± 2.6 ms"
    assert window_text(Result.from_dict(_result(window_resolution_s=None))) == "3.008 s"
    assert window_text(Result.from_dict(_result(data_loss_window_s=None))) == "n/a"


def test_optional_lines() -> None:
    r = _result(
        time_scale=60.0,
        real_time={"data_loss_window_s": 180.48, "rpo_declared_s": 60.0, "rto_s": 30.0},
        failover={"promoted": None, "reason": "no candidate caught up", "refused": True},
        observed={"replicas": {"replica1": {"naive_lag_s_at_outage": 0.25}}},
        writes={"lost": 12, "acknowledged": 20, "lost_after_cancelled_sync_wait": list(range(12))},
        durability={},
    )
    text = "\n".join(lines(r))
    assert "time scale 60: in incident time the window is 180.480 s vs RPO 60.000 s" in text
    assert "failover: no candidate caught up" in text
    assert "promoted: none; final read on: none" in text
    assert "replica1 0.250 s" in text
    assert "12 lost writes had been acknowledged after a cancelled wait" in text
    assert "seq 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ..." in text
    assert "durability: not read (no topology came up); replicas: none" in text


def test_render_puts_the_verdict_first() -> None:
    buf = io.StringIO()
    render(_result(), Console(file=buf, width=300, color_system=None))
    first, *rest = buf.getvalue().splitlines()
    assert first == "FAIL  s1  (seed 3, backend local)"
    assert rest[0].startswith("  lost 2 of 8")


def test_a_fault_on_one_process_names_it_after_its_node() -> None:
    crash = Fault(kind="crash", target="primary", start_s=3.0, end_s=3.0,
                  params={"process": "postmaster"})  # fmt: skip
    assert fault_text(crash) == "crash primary:postmaster @3.00s"
    pause = Fault(kind="pause", target="primary", start_s=2.0, end_s=30.0,
                  params={"process": "patroni"})  # fmt: skip
    assert fault_text(pause) == "pause primary:patroni @2.00s-30.00s"
    host = Fault(kind="crash", target="primary", start_s=3.0, params={"links": "cut"})
    assert fault_text(host) == "crash primary @3.00s"
