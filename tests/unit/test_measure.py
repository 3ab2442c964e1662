"""Unit tests for measure(): literal histories, then properties over random ones."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpochaos.history import SYNC_WAIT_CANCELLED, Journal, Op, Outcome, read_columns
from rpochaos.measure import Expectations, FinalRead, Measurement, Verdict, measure

OLD, NEW = "pg0", "pg1"


def ok(seq: int, invoke: float, done: float, node: str = OLD, note: str | None = None) -> Op:
    return Op(seq=seq, invoke_s=invoke, complete_s=done, outcome=Outcome.OK, node=node, note=note)


def fail(seq: int, invoke: float, done: float, node: str = OLD) -> Op:
    return Op(seq=seq, invoke_s=invoke, complete_s=done, outcome=Outcome.FAIL, node=node)


def info(seq: int, invoke: float, done: float | None, node: str | None = OLD) -> Op:
    return Op(seq=seq, invoke_s=invoke, complete_s=done, outcome=Outcome.INFO, node=node)


def read(*seqs: int, node: str = NEW, at: float = 100.0) -> FinalRead:
    return FinalRead(node=node, seqs=frozenset(seqs), at_s=at)


def tail_history() -> list[Op]:
    """Async replication: seq i (1..10) is acknowledged at t=i on the old primary."""
    return [ok(i, i - 0.05, float(i)) for i in range(1, 11)]


# --- literal histories ------------------------------------------------------------------------


def test_no_loss_window_zero_when_newest_ack_is_after_the_outage() -> None:
    ops = [ok(i, i - 0.1, float(i)) for i in range(1, 5)] + [ok(5, 6.0, 6.5, node=NEW)]
    m = measure(ops, read(1, 2, 3, 4, 5), outage_at_s=4.0, expect=Expectations(rpo_s=0.0))
    assert m.verdict is Verdict.PASS
    assert m.lost == 0 and tuple(m.lost_seqs) == ()
    assert m.acknowledged == 5 and m.attempted == 5
    assert m.recovery_point_s == 6.5
    assert m.data_loss_window_s == 0.0
    assert m.loss_span_s is None and m.first_lost_s is None and m.last_lost_s is None
    assert m.holes == 0
    assert m.reasons == ("data-loss window 0.00 s <= RPO 0.00 s",)


def test_no_loss_means_zero_window_however_old_the_last_ack() -> None:
    # a synchronous commit stall: the last ack is 3 s before the outage, nothing is lost
    ops = [ok(i, i - 0.1, float(i)) for i in range(1, 5)]
    m = measure(ops, read(1, 2, 3, 4), outage_at_s=7.0, expect=Expectations(rpo_s=0.5))
    assert m.verdict is Verdict.PASS
    assert m.recovery_point_s == 4.0
    assert m.data_loss_window_s == 0.0
    assert m.reasons == ("data-loss window 0.00 s <= RPO 0.50 s",)


def test_loss_acknowledged_after_the_outage_extends_the_window() -> None:
    # split brain: the old primary acknowledged 3..5 after the declared outage at 2.5
    ops = [ok(i, i - 0.1, float(i)) for i in range(1, 6)]
    m = measure(ops, read(1, 2), outage_at_s=2.5, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (3, 4, 5)
    assert m.recovery_point_s == 2.0
    assert m.data_loss_window_s == pytest.approx(3.0)  # last lost ack (5.0) - 2.0
    assert m.verdict is Verdict.FAIL


def test_unexpected_values_fail_even_within_the_rpo() -> None:
    ops = [ok(i, i - 0.1, float(i)) for i in range(1, 4)]
    m = measure(ops, read(1, 2, 3, 99), outage_at_s=3.5, expect=Expectations(rpo_s=1.0))
    assert tuple(m.unexpected_seqs) == (99,)
    assert m.verdict is Verdict.FAIL
    assert any("never written" in r for r in m.reasons)


def test_async_tail_loss_fails_a_small_rpo() -> None:
    m = measure(tail_history(), read(1, 2, 3, 4, 5, 6), 10.5, Expectations(rpo_s=1.0))
    assert m.verdict is Verdict.FAIL
    assert m.reasons == ("data-loss window 4.50 s > RPO 1.00 s",)
    assert m.lost == 4
    assert tuple(m.lost_seqs) == (7, 8, 9, 10)
    assert m.recovery_point_s == 6.0
    assert m.data_loss_window_s == pytest.approx(4.5)
    assert m.first_lost_s == 7.0 and m.last_lost_s == 10.0
    assert m.loss_span_s == pytest.approx(3.0)
    assert m.holes == 0


def test_async_tail_loss_passes_a_large_rpo() -> None:
    m = measure(tail_history(), read(1, 2, 3, 4, 5, 6), 10.5, Expectations(rpo_s=5.0))
    assert m.verdict is Verdict.PASS
    assert m.lost == 4
    assert m.reasons == ("data-loss window 4.50 s <= RPO 5.00 s",)


def test_single_lost_ack_has_zero_span() -> None:
    m = measure(tail_history(), read(*range(1, 10)), 10.5, Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (10,)
    assert m.loss_span_s == 0.0
    assert m.first_lost_s == m.last_lost_s == 10.0


def test_hole_is_counted_and_recovery_point_stops_before_it() -> None:
    ops = [ok(i, i - 0.05, float(i)) for i in range(1, 6)]
    m = measure(ops, read(1, 2, 4, 5), outage_at_s=5.5, expect=Expectations(rpo_s=10.0))
    assert tuple(m.lost_seqs) == (3,)
    assert m.holes == 1
    assert m.recovery_point_s == 2.0
    assert m.data_loss_window_s == pytest.approx(3.5)
    assert m.verdict is Verdict.PASS


def test_tail_loss_after_a_hole_counts_only_the_hole() -> None:
    ops = [ok(i, i - 0.05, float(i)) for i in range(1, 7)]
    m = measure(ops, read(1, 3, 4), outage_at_s=6.5, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (2, 5, 6)
    assert m.holes == 1  # seq 2 is older than present seq 3/4; 5 and 6 are the tail
    assert m.recovery_point_s == 1.0
    assert m.loss_span_s == pytest.approx(4.0)


def test_lost_ack_completing_with_the_newest_present_one_is_not_a_hole() -> None:
    ops = [ok(1, 0.0, 1.0), ok(2, 0.0, 1.0), ok(3, 0.0, 0.5)]
    m = measure(ops, read(1), outage_at_s=2.0, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (2, 3)
    assert m.holes == 1  # seq 3 completed before present seq 1; seq 2 at the same time


def test_recovery_point_orders_by_complete_time_not_seq() -> None:
    # seq 2 completes before seq 1: losing seq 1 keeps seq 2 as the recovery point.
    ops = [ok(1, 0.0, 2.0), ok(2, 0.5, 1.0), ok(3, 2.5, 3.0)]
    m = measure(ops, read(2, 3), outage_at_s=3.5, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (1,)
    assert m.recovery_point_s == 1.0
    assert m.holes == 1


def test_recovery_point_ties_broken_by_seq() -> None:
    ops = [ok(1, 0.0, 1.0), ok(2, 0.0, 1.0), ok(3, 0.0, 2.0)]
    m = measure(ops, read(1, 3), outage_at_s=2.0, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (2,)
    assert m.recovery_point_s == 1.0  # seq 1 is safe, seq 2 (same time, later seq) is not


def test_earliest_ack_lost_gives_the_first_invoke_as_recovery_point() -> None:
    ops = [info(1, 0.25, None), ok(2, 0.5, 1.0), ok(3, 1.5, 2.0)]
    m = measure(ops, read(3), outage_at_s=2.5, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (2,)
    assert m.recovery_point_s == 0.25
    assert m.data_loss_window_s == pytest.approx(2.25)
    assert m.verdict is Verdict.FAIL


def test_phantom_is_a_failed_write_that_is_present() -> None:
    ops = [ok(1, 0.0, 1.0), fail(2, 1.0, 1.5), fail(3, 1.6, 1.7), ok(4, 2.0, 2.5)]
    m = measure(ops, read(1, 2, 4), outage_at_s=3.0, expect=Expectations(rpo_s=1.0))
    assert m.phantom == 1 and tuple(m.phantom_seqs) == (2,)
    assert m.recovered == 0
    assert m.lost == 0
    assert m.unexpected == 0


def test_recovered_is_an_unknown_write_that_is_present() -> None:
    ops = [ok(1, 0.0, 1.0), info(2, 1.0, 3.0), info(3, 1.1, None), info(4, 1.2, 3.0)]
    m = measure(ops, read(1, 2, 3), outage_at_s=2.0, expect=Expectations(rpo_s=1.0))
    assert m.recovered == 2  # seq 2 (timed out) and seq 3 (never completed)
    assert m.phantom == 0
    assert m.lost == 0
    assert m.acknowledged == 1
    assert m.attempted == 4


def test_unexpected_is_a_present_seq_no_op_wrote() -> None:
    ops = [ok(1, 0.0, 1.0), ok(2, 1.0, 2.0)]
    m = measure(ops, read(1, 2, 99, 7), outage_at_s=2.5, expect=Expectations(rpo_s=1.0))
    assert m.unexpected == 2
    assert tuple(m.unexpected_seqs) == (7, 99)
    assert m.lost == 0 and m.recovered == 0 and m.phantom == 0


def test_missing_final_read_is_unknown_never_pass() -> None:
    m = measure(tail_history(), None, outage_at_s=10.5, expect=Expectations(rpo_s=1000.0))
    assert m.verdict is Verdict.UNKNOWN
    assert m.reasons == ("no final read: the run ended before the surviving primary was read",)
    assert m.data_loss_window_s is None
    assert m.recovery_point_s is None
    assert m.acknowledged == 10


def test_outage_never_ran_is_unknown() -> None:
    m = measure(tail_history(), read(*range(1, 11)), None, Expectations(rpo_s=1000.0))
    assert m.verdict is Verdict.UNKNOWN
    assert m.reasons == ("the outage step never ran",)
    assert m.data_loss_window_s is None
    assert m.recovery_point_s == 10.0
    assert m.rto_s is None


def test_no_acknowledged_writes_is_unknown() -> None:
    ops = [fail(1, 0.0, 0.1), info(2, 0.2, None)]
    m = measure(ops, read(), outage_at_s=1.0, expect=Expectations(rpo_s=1000.0))
    assert m.verdict is Verdict.UNKNOWN
    assert m.reasons == ("no acknowledged writes",)
    assert m.recovery_point_s is None
    assert m.attempted == 2 and m.acknowledged == 0


def test_every_unknown_cause_is_listed() -> None:
    m = measure([], None, None, Expectations(rpo_s=1.0))
    assert m.verdict is Verdict.UNKNOWN
    assert len(m.reasons) == 3


def test_max_lost_fails_even_within_rpo() -> None:
    expect = Expectations(rpo_s=10.0, max_lost=0)
    m = measure(tail_history(), read(1, 2, 3, 4, 5, 6, 7, 8), 10.5, expect)
    assert m.verdict is Verdict.FAIL
    assert m.reasons == ("lost 2 > max_lost 0",)


def test_max_lost_met_is_listed_among_pass_reasons() -> None:
    expect = Expectations(rpo_s=10.0, max_lost=2)
    m = measure(tail_history(), read(1, 2, 3, 4, 5, 6, 7, 8), 10.5, expect)
    assert m.verdict is Verdict.PASS
    assert m.reasons == ("data-loss window 2.50 s <= RPO 10.00 s", "lost 2 <= max_lost 2")


def test_min_lost_fails_when_too_little_was_lost() -> None:
    expect = Expectations(rpo_s=10.0, min_lost=1)
    m = measure(tail_history(), read(*range(1, 11)), 10.5, expect)
    assert m.verdict is Verdict.FAIL
    assert m.reasons == ("lost 0 < min_lost 1",)
    m2 = measure(tail_history(), read(*range(1, 10)), 10.5, expect)
    assert m2.verdict is Verdict.PASS


def test_every_failed_check_is_a_reason() -> None:
    expect = Expectations(rpo_s=1.0, max_lost=0, max_rto_s=1.0)
    m = measure(tail_history(), read(1, 2, 3), 10.5, expect)
    assert m.verdict is Verdict.FAIL
    assert m.reasons == (
        "data-loss window 7.50 s > RPO 1.00 s",
        "lost 7 > max_lost 0",
        "no acknowledged write on pg1 after the outage (max_rto 1.00 s)",
    )


def rto_history() -> list[Op]:
    return [
        ok(1, 0.5, 1.0),
        ok(2, 4.0, 4.5, node=NEW),  # on the new primary but invoked before the outage
        info(3, 5.0, 6.0, node=OLD),
        ok(4, 5.5, 6.2, node=OLD),  # acknowledged after the outage, but by the old primary
        fail(5, 6.0, 6.1, node=NEW),
        ok(6, 7.0, 9.0, node=NEW),  # invoked first, acknowledged later
        ok(7, 7.5, 8.0, node=NEW),  # the first acknowledgement on the new primary
    ]


def test_rto_is_the_first_ack_on_the_surviving_node_invoked_after_the_outage() -> None:
    m = measure(rto_history(), read(1, 2, 4, 6, 7), 5.0, Expectations(rpo_s=1.0))
    assert m.rto_s == pytest.approx(3.0)


def test_rto_counts_an_op_invoked_exactly_at_the_outage() -> None:
    ops = [ok(1, 0.0, 1.0), ok(2, 5.0, 5.25, node=NEW), ok(3, 5.1, 6.0, node=NEW)]
    m = measure(ops, read(1, 2, 3), 5.0, Expectations(rpo_s=1.0))
    assert m.rto_s == pytest.approx(0.25)


def test_rto_is_none_without_an_ack_on_the_surviving_node() -> None:
    m = measure(rto_history(), read(1, 2, 4, 6, 7, node="pg2"), 5.0, Expectations(rpo_s=1.0))
    assert m.rto_s is None


def test_max_rto_expectation() -> None:
    fast = measure(rto_history(), read(1, 2, 4, 6, 7), 5.0, Expectations(rpo_s=1.0, max_rto_s=3.5))
    assert fast.verdict is Verdict.PASS
    assert fast.reasons[-1] == "RTO 3.00 s <= max_rto 3.50 s"
    slow = measure(rto_history(), read(1, 2, 4, 6, 7), 5.0, Expectations(rpo_s=1.0, max_rto_s=2.0))
    assert slow.verdict is Verdict.FAIL
    assert slow.reasons == ("RTO 3.00 s > max_rto 2.00 s",)


def test_lost_after_cancelled_sync_wait_lists_only_lost_marked_acks() -> None:
    ops = [
        ok(1, 0.0, 1.0),
        ok(2, 1.0, 2.0, note=SYNC_WAIT_CANCELLED),  # present: not listed
        ok(3, 2.0, 3.0, note=SYNC_WAIT_CANCELLED),  # lost: listed
        ok(4, 3.0, 4.0, note="something else"),  # lost, other note
        ok(5, 4.0, 5.0, note=SYNC_WAIT_CANCELLED),  # lost: listed
    ]
    m = measure(ops, read(1, 2), outage_at_s=5.5, expect=Expectations(rpo_s=1.0))
    assert tuple(m.lost_seqs) == (3, 4, 5)
    assert tuple(m.lost_after_cancelled_sync_wait) == (3, 5)


def test_window_message_shows_enough_digits_to_differ() -> None:
    ops = [ok(1, 0.0, 1.0), ok(2, 0.5, 1.001)]
    m = measure(ops, read(1), outage_at_s=1.004, expect=Expectations(rpo_s=0.0))
    assert m.verdict is Verdict.FAIL
    assert m.reasons == ("data-loss window 0.004 s > RPO 0.000 s",)


def test_duplicate_seqs_are_rejected() -> None:
    with pytest.raises(ValueError, match="seq 1"):
        measure([ok(1, 0.0, 1.0), ok(1, 0.5, 1.5)], read(1), 2.0, Expectations(rpo_s=1.0))


def test_to_dict_is_json_able_nested_and_rounded() -> None:
    ops = [ok(1, 0.0, 1.0), ok(2, 1.0, 1.0000004), ok(3, 2.0, 3.0, note=SYNC_WAIT_CANCELLED)]
    m = measure(ops, read(1, 2, 42), outage_at_s=3.1234567891, expect=Expectations(rpo_s=0.5))
    d = m.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d == {
        "verdict": "FAIL",
        "reasons": [
            "data-loss window 2.12 s > RPO 0.50 s",
            "1 present values were never written (corruption)",
        ],
        "rpo_declared_s": 0.5,
        "writes": {
            "attempted": 3,
            "acknowledged": 3,
            "lost": 1,
            "recovered": 0,
            "phantom": 0,
            "unexpected": 1,
            "holes": 0,
            "lost_after_cancelled_sync_wait": 1,
            "seq_ranges": {
                "lost": [[3, 3]],
                "recovered": [],
                "phantom": [],
                "unexpected": [[42, 42]],
                "lost_after_cancelled_sync_wait": [[3, 3]],
            },
        },
        "recovery_point_s": 1.0,
        "outage_at_s": 3.123457,
        "data_loss_window_s": 2.123456,
        "loss_span_s": 0.0,
        "first_lost_s": 3.0,
        "last_lost_s": 3.0,
        "rto_s": None,
    }


# --- properties ----------------------------------------------------------------------------------

NODES = (OLD, NEW, None)


@st.composite
def histories(draw: st.DrawFn) -> list[Op]:
    n = draw(st.integers(min_value=0, max_value=30))
    seqs = sorted(draw(st.sets(st.integers(min_value=0, max_value=200), min_size=n, max_size=n)))
    ops: list[Op] = []
    for seq in seqs:
        invoke = draw(st.floats(min_value=0.0, max_value=100.0, allow_nan=False))
        duration = draw(st.floats(min_value=0.0, max_value=10.0, allow_nan=False))
        outcome = draw(st.sampled_from(list(Outcome)))
        complete: float | None = invoke + duration
        if outcome is Outcome.INFO and draw(st.booleans()):
            complete = None
        note = draw(st.sampled_from([None, SYNC_WAIT_CANCELLED, "other"]))
        node = draw(st.sampled_from(NODES))
        ops.append(
            Op(seq=seq, invoke_s=invoke, complete_s=complete, outcome=outcome, node=node, note=note)
        )
    return ops


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[Op], FinalRead, float, Expectations]:
    ops = draw(histories())
    written = [op.seq for op in ops]
    kept = draw(st.sets(st.sampled_from(written))) if written else set()
    extra = draw(st.sets(st.integers(min_value=-50, max_value=300), max_size=3))
    final = FinalRead(node=draw(st.sampled_from([OLD, NEW])), seqs=frozenset(kept | extra), at_s=0)
    outage = draw(st.floats(min_value=0.0, max_value=120.0, allow_nan=False))
    expect = Expectations(
        rpo_s=draw(st.floats(min_value=0.0, max_value=50.0, allow_nan=False)),
        max_lost=draw(st.none() | st.integers(min_value=0, max_value=10)),
        min_lost=draw(st.none() | st.integers(min_value=0, max_value=3)),
        max_rto_s=draw(st.none() | st.floats(min_value=0.0, max_value=20.0, allow_nan=False)),
    )
    return ops, final, outage, expect


def acked_seqs(ops: list[Op]) -> set[int]:
    return {op.seq for op in ops if op.outcome is Outcome.OK}


@given(runs())
def test_lost_and_present_partition_the_acknowledged(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, final, outage, expect = run
    m = measure(ops, final, outage, expect)
    acked = acked_seqs(ops)
    assert m.acknowledged == len(acked)
    assert m.attempted == len(ops)
    assert m.lost + len(acked & final.seqs) == m.acknowledged
    assert set(m.lost_seqs) == acked - final.seqs
    assert not set(m.lost_seqs) & final.seqs
    assert list(m.lost_seqs) == sorted(m.lost_seqs)
    assert 0 <= m.holes <= m.lost


@given(runs())
def test_classification_of_present_seqs(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, final, outage, expect = run
    m = measure(ops, final, outage, expect)
    by_seq = {op.seq: op for op in ops}
    assert set(m.unexpected_seqs) == final.seqs - by_seq.keys()
    assert m.unexpected == len(m.unexpected_seqs)
    assert set(m.phantom_seqs) == {
        s for s in final.seqs & by_seq.keys() if by_seq[s].outcome is Outcome.FAIL
    }
    assert m.recovered == sum(
        1 for s in final.seqs if s in by_seq and by_seq[s].outcome is Outcome.INFO
    )
    assert set(m.lost_after_cancelled_sync_wait) <= set(m.lost_seqs)


@given(runs())
def test_window_is_never_negative_and_recovery_point_is_safe(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, final, outage, expect = run
    m = measure(ops, final, outage, expect)
    acked = [op for op in ops if op.outcome is Outcome.OK]
    if not acked:
        assert m.verdict is Verdict.UNKNOWN
        assert m.recovery_point_s is None
        return
    assert m.data_loss_window_s is not None and m.data_loss_window_s >= 0.0
    assert m.recovery_point_s is not None
    # every ack that completed strictly before the recovery point is present
    for op in acked:
        assert op.complete_s is not None
        if op.complete_s < m.recovery_point_s:
            assert op.seq in final.seqs
    assert m.verdict is not Verdict.UNKNOWN
    assert (m.verdict is Verdict.FAIL) == bool(
        m.data_loss_window_s > expect.rpo_s
        or m.unexpected > 0
        or (expect.max_lost is not None and m.lost > expect.max_lost)
        or (expect.min_lost is not None and m.lost < expect.min_lost)
        or (expect.max_rto_s is not None and (m.rto_s is None or m.rto_s > expect.max_rto_s))
    )


@given(runs())
def test_never_pass_without_a_final_read(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, _final, outage, expect = run
    m = measure(ops, None, outage, expect)
    assert m.verdict is Verdict.UNKNOWN
    assert m.reasons and m.reasons[0].startswith("no final read")


@given(runs())
def test_everything_acknowledged_present_means_nothing_lost(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, final, outage, expect = run
    final = FinalRead(node=final.node, seqs=final.seqs | acked_seqs(ops), at_s=final.at_s)
    m = measure(ops, final, outage, expect)
    assert m.lost == 0 and tuple(m.lost_seqs) == () and m.holes == 0
    assert m.loss_span_s is None
    done = [op.complete_s for op in ops if op.outcome is Outcome.OK and op.complete_s is not None]
    assert m.recovery_point_s == (max(done) if done else None)


@given(runs(), st.floats(min_value=0.0, max_value=100.0, allow_nan=False))
def test_a_larger_rpo_never_turns_pass_into_fail(
    run: tuple[list[Op], FinalRead, float, Expectations], more: float
) -> None:
    ops, final, outage, expect = run
    tight = measure(ops, final, outage, expect)
    loose_expect = Expectations(
        rpo_s=expect.rpo_s + more,
        max_lost=expect.max_lost,
        min_lost=expect.min_lost,
        max_rto_s=expect.max_rto_s,
    )
    loose = measure(ops, final, outage, loose_expect)
    if tight.verdict is Verdict.PASS:
        assert loose.verdict is Verdict.PASS
    # all the numbers are independent of the RPO
    assert _numbers(tight) == _numbers(loose)


def _numbers(m: Measurement) -> dict[str, object]:
    d = m.to_dict()
    del d["verdict"], d["reasons"], d["rpo_declared_s"]
    return d


# --- the column-wise measure against the per-operation one it replaced -----------------------


def _reference(ops: list[Op], final: FinalRead, outage: float | None) -> dict[str, object]:
    """The numbers as rpochaos computed them before the columns (one object per op, sorts)."""

    def done(op: Op) -> float:
        assert op.complete_s is not None
        return op.complete_s

    acked = sorted(
        (op for op in ops if op.outcome == Outcome.OK and op.complete_s is not None),
        key=lambda op: (done(op), op.seq),
    )
    present = final.seqs
    seen = {op.seq for op in ops}
    info = {op.seq for op in ops if op.outcome == Outcome.INFO or op.complete_s is None}
    failed = {op.seq for op in ops if op.outcome == Outcome.FAIL and op.complete_s is not None}
    lost = [op for op in acked if op.seq not in present]
    point: float | None = None
    if acked:
        for op in acked:
            if op.seq not in present:
                break
            point = done(op)
        if point is None:
            point = min(op.invoke_s for op in ops)
    kept = [done(o) for o in acked if o.seq in present and (outage is None or done(o) <= outage)]
    newest = max(kept, default=None)
    holes = 0 if newest is None else sum(1 for o in lost if done(o) < newest)
    after = [
        done(o)
        for o in ops
        if o.outcome == Outcome.OK
        and o.complete_s is not None
        and o.node == final.node
        and outage is not None
        and o.invoke_s >= outage
    ]
    times = [done(o) for o in lost]
    return {
        "acknowledged": len(acked),
        "lost": sorted(o.seq for o in lost),
        "recovered": sorted(present & info),
        "phantom": sorted(present & failed),
        "unexpected": sorted(present - seen),
        "cancelled": sorted(o.seq for o in lost if o.note == SYNC_WAIT_CANCELLED),
        "recovery_point": point,
        "holes": holes,
        "rto": None if not after or outage is None else min(after) - outage,
        "first_lost": min(times, default=None),
        "last_lost": max(times, default=None),
    }


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(runs())
def test_property_same_numbers_as_the_per_operation_measure(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, final, outage, expect = run
    m = measure(ops, final, outage, expect)
    assert {
        "acknowledged": m.acknowledged,
        "lost": m.lost_seqs.tolist(),
        "recovered": m.recovered_seqs.tolist(),
        "phantom": m.phantom_seqs.tolist(),
        "unexpected": m.unexpected_seqs.tolist(),
        "cancelled": m.lost_after_cancelled_sync_wait.tolist(),
        "recovery_point": m.recovery_point_s,
        "holes": m.holes,
        "rto": m.rto_s,
        "first_lost": m.first_lost_s,
        "last_lost": m.last_lost_s,
    } == _reference(ops, final, outage)
    assert m.recovered == len(m.recovered_seqs) and m.lost == len(m.lost_seqs)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(runs())
def test_property_a_journaled_history_measures_as_its_ops(
    run: tuple[list[Op], FinalRead, float, Expectations],
) -> None:
    ops, final, outage, expect = run
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        ns = [
            replace(
                op,
                invoke_s=float(f"{op.invoke_s:.9f}"),
                complete_s=None if op.complete_s is None else float(f"{op.complete_s:.9f}"),
            )
            for op in ops
        ]
        with Journal(path) as j:
            for op in ns:
                j.invoke(op.seq, op.invoke_s, op.worker)
                if op.complete_s is not None:
                    j.complete(op.seq, op.complete_s, op.outcome, op.node, op.note)
        assert measure(read_columns(path), final, outage, expect) == measure(
            ns, final, outage, expect
        )
