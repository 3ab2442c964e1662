"""result.json's ``witness`` from a stored witness.json (``rpochaos.result.witness``) and its
lines in the reports: counts and ranges, the FAIL reason only for a durable-ack write gone,
unavailable for what cannot be read, and no key at all for a run without a witness."""

from __future__ import annotations

from pathlib import Path

from rpochaos.report.summary import lines
from rpochaos.report.witness import RED, red_line, witness_lines
from rpochaos.result import Result
from rpochaos.result.witness import witness_part
from rpochaos.witness.classify import ranges
from rpochaos.witness.model import Timings, WitnessReport, save

DURABLE = {"fsync": "on", "synchronous_commit": "on"}


def _report(old: set[int], status: str = "ok") -> WitnessReport:
    return WitnessReport(
        node="primary",
        status=status,  # type: ignore[arg-type]
        fork_lsn="0/3000000",
        old_seq_ranges=ranges(old),
        waldump_commits=12,
        timings=Timings(total_s=1.25, run_s=1.5),
    )


def test_every_lost_write_on_the_old_primary(tmp_path: Path) -> None:
    save(_report(set(range(1, 21))), tmp_path)  # 1..8 replicated, 9..18 lost, 19..20 in flight
    w = witness_part(tmp_path, range(9, 19), range(1, 9), DURABLE)
    assert w is not None and w.status == "ok"
    assert (w.on_old_primary, w.gone, w.in_flight_present) == (10, 0, 2)
    assert w.on_old_primary_seqs == [(9, 18)] and w.in_flight_present_seqs == [(19, 20)]
    assert w.fail_reason is None and w.took_s == 1.5
    r = Result(witness=w)
    assert witness_lines(r) == [w.line()] and red_line(r) == ""
    assert w.line().startswith("witness: ok: 10 lost writes on primary's disk, 0 gone, 2 in ")


def test_a_durable_ack_write_gone_is_the_fail_reason_and_a_red_line(tmp_path: Path) -> None:
    save(_report(set(range(1, 21)) - {10, 11, 17}), tmp_path)
    w = witness_part(tmp_path, range(9, 19), range(1, 9), DURABLE)
    assert w is not None and w.gone == 3 and w.gone_seqs == [(10, 11), (17, 17)]
    assert w.fail_reason is not None and "seq 10-11, 17" in w.fail_reason
    r = Result(witness=w)
    assert red_line(r) == f"{RED}: {w.fail_reason}"
    assert [x for x in lines(r) if x.startswith(RED)] == [red_line(r)]
    # not durable: the same loss is what the settings allowed, no FAIL
    off = witness_part(tmp_path, range(9, 19), range(1, 9), {"synchronous_commit": "off"})
    assert off is not None and off.gone == 3 and off.fail_reason is None


def test_unavailable_missing_and_unreadable(tmp_path: Path) -> None:
    assert witness_part(tmp_path, [1], [2], DURABLE) is None  # no witness.json: no key
    assert "witness" not in Result().to_dict()
    save(WitnessReport.unavailable("primary", "the old primary still runs (pid 7)"), tmp_path)
    w = witness_part(tmp_path, [1], [2], DURABLE)
    assert w is not None and w.status == "unavailable" and w.gone == 0 and w.fail_reason is None
    assert w.line() == "witness: unavailable (the old primary still runs (pid 7))"
    assert "witness" in Result(witness=w).to_dict()
    save(_report({1}), tmp_path)
    w = witness_part(tmp_path, [1], None, DURABLE)  # no final read: nothing to classify
    assert w is not None and w.status == "unavailable" and w.why == "the run has no final read"
    (tmp_path / "witness.json").write_text('{"status": "maybe"}')
    w = witness_part(tmp_path, [1], [2], DURABLE)
    assert w is not None and w.status == "unavailable" and w.why and "status" in w.why
