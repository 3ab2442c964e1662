"""Pure measurement: a history and a final read in, the numbers and the verdict out.

Definitions (the contract, from docs/measurement.md / architecture.md):

- acknowledged = ops with outcome ok
- lost = acknowledged seqs not present in the final read
- recovered = present seqs whose op outcome was info (unknown)
- phantom = present seqs whose op outcome was fail (definitely-failed yet present)
- unexpected = present seqs that no op ever produced (must be 0)
- recovery point = complete time of the newest acknowledged op such that it and every
  acknowledged op that completed no later are present (order by complete time, ties by seq).
  If the earliest acknowledged op is already lost, the recovery point is the time of the first
  invoke in the history (nothing was safe). None when there are no acknowledged ops.
- data-loss window = 0 when no acknowledged write is lost (nothing acknowledged was lost,
  however long ago the last acknowledgement was: a stalled synchronous commit loses no data);
  otherwise max(outage_at, last lost ack's complete time) - recovery point, clamped at >= 0.
  The max() covers writes acknowledged *after* the declared outage and then lost (a
  split-brain primary that keeps acknowledging).
- loss span = complete time of the last lost ack - that of the first lost ack (0 with one; None
  with none). holes = lost acks that completed before some present ack that itself completed
  no later than the outage (acks taken by the new primary after failover don't count).
- RTO = complete time of the first ok op invoked at or after outage_at on ``final.node``
  (the primary that survived), minus outage_at; None if there is none.
- verdict: UNKNOWN if the final read is missing, the outage never happened (outage_at None) or
  there are no acknowledged ops; else FAIL if window > rpo, if unexpected > 0 (the final read
  holds values no write produced: corruption), or if any expectation (max_lost, min_lost,
  max_rto) fails; else PASS. Never PASS on missing data. ``reasons`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from rpochaos.history import SYNC_WAIT_CANCELLED, Op, Outcome


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class FinalRead:
    node: str  # the node read (the surviving primary)
    seqs: frozenset[int]
    at_s: float  # harness time of the read


@dataclass(frozen=True)
class Expectations:
    rpo_s: float
    max_lost: int | None = None
    min_lost: int | None = None
    max_rto_s: float | None = None


@dataclass(frozen=True)
class Measurement:
    verdict: Verdict
    reasons: tuple[str, ...]  # human-readable, one per failed check or unknown cause
    rpo_declared_s: float
    attempted: int
    acknowledged: int
    lost: int
    recovered: int
    phantom: int
    unexpected: int
    holes: int
    recovery_point_s: float | None
    outage_at_s: float | None
    data_loss_window_s: float | None
    loss_span_s: float | None
    rto_s: float | None
    lost_seqs: tuple[int, ...] = field(default=())
    phantom_seqs: tuple[int, ...] = field(default=())
    unexpected_seqs: tuple[int, ...] = field(default=())
    #: lost acks whose op carried the note SYNC_WAIT_CANCELLED
    lost_after_cancelled_sync_wait: tuple[int, ...] = field(default=())
    first_lost_s: float | None = None  # complete time of the first lost ack
    last_lost_s: float | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-able dict: verdict, reasons, rpo_declared_s, writes{attempted, acknowledged,
        lost, recovered, phantom, unexpected, holes, lost_seqs, phantom_seqs, unexpected_seqs,
        lost_after_cancelled_sync_wait}, recovery_point_s, outage_at_s, data_loss_window_s,
        loss_span_s, first_lost_s, last_lost_s, rto_s."""
        return {
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "rpo_declared_s": _round(self.rpo_declared_s),
            "writes": {
                "attempted": self.attempted,
                "acknowledged": self.acknowledged,
                "lost": self.lost,
                "recovered": self.recovered,
                "phantom": self.phantom,
                "unexpected": self.unexpected,
                "holes": self.holes,
                "lost_seqs": list(self.lost_seqs),
                "phantom_seqs": list(self.phantom_seqs),
                "unexpected_seqs": list(self.unexpected_seqs),
                "lost_after_cancelled_sync_wait": list(self.lost_after_cancelled_sync_wait),
            },
            "recovery_point_s": _round(self.recovery_point_s),
            "outage_at_s": _round(self.outage_at_s),
            "data_loss_window_s": _round(self.data_loss_window_s),
            "loss_span_s": _round(self.loss_span_s),
            "first_lost_s": _round(self.first_lost_s),
            "last_lost_s": _round(self.last_lost_s),
            "rto_s": _round(self.rto_s),
        }


def measure(
    ops: Sequence[Op],
    final: FinalRead | None,
    outage_at_s: float | None,
    expect: Expectations,
) -> Measurement:
    """Compute every number and the verdict. Pure; no I/O."""
    seen: set[int] = set()
    for op in ops:
        if op.seq in seen:
            raise ValueError(f"seq {op.seq} appears in more than one op; seqs must be unique")
        seen.add(op.seq)

    # An op that never completed is info whatever its outcome field says.
    acked = sorted(
        (op for op in ops if op.outcome == Outcome.OK and op.complete_s is not None),
        key=_ack_order,
    )

    if final is None:
        # Without the final read nothing about loss can be known: the counts that depend on
        # it are 0 and the times None; the verdict is UNKNOWN.
        lost_ops: list[Op] = []
        recovered = 0
        phantom_seqs: tuple[int, ...] = ()
        unexpected_seqs: tuple[int, ...] = ()
        holes = 0
        recovery_point: float | None = None
        rto: float | None = None
    else:
        present = final.seqs
        info_seqs = {op.seq for op in ops if op.outcome == Outcome.INFO or op.complete_s is None}
        fail_seqs = {
            op.seq for op in ops if op.outcome == Outcome.FAIL and op.complete_s is not None
        }
        lost_ops = [op for op in acked if op.seq not in present]
        recovered = len(present & info_seqs)
        phantom_seqs = tuple(sorted(present & fail_seqs))
        unexpected_seqs = tuple(sorted(present - seen))
        recovery_point = _recovery_point(ops, acked, present)
        # holes: lost acks older than an ack that survived from before the outage (acks on
        # the new primary after the failover would make every lost write a "hole")
        present_acked_times = [
            _done(op)
            for op in acked
            if op.seq in present and (outage_at_s is None or _done(op) <= outage_at_s)
        ]
        newest_present = max(present_acked_times, default=None)
        holes = (
            0 if newest_present is None else sum(1 for op in lost_ops if _done(op) < newest_present)
        )
        rto = _rto(ops, final.node, outage_at_s)

    lost_times = [_done(op) for op in lost_ops]
    first_lost = min(lost_times, default=None)
    last_lost = max(lost_times, default=None)
    loss_span = None if first_lost is None or last_lost is None else last_lost - first_lost
    lost = len(lost_ops)
    window: float | None
    if outage_at_s is None or recovery_point is None:
        window = None
    elif lost == 0:
        window = 0.0
    else:
        end = outage_at_s if last_lost is None else max(outage_at_s, last_lost)
        window = max(0.0, end - recovery_point)

    unknown: list[str] = []
    if final is None:
        unknown.append("no final read: the run ended before the surviving primary was read")
    if outage_at_s is None:
        unknown.append("the outage step never ran")
    if not acked:
        unknown.append("no acknowledged writes")

    reasons: list[str]
    if unknown or window is None:
        verdict = Verdict.UNKNOWN
        reasons = unknown or ["the data-loss window could not be computed"]
    else:
        failed: list[str] = []
        passed: list[str] = []
        rpo = expect.rpo_s
        w, r = _fmt_pair(window, rpo)
        if window > rpo:
            failed.append(f"data-loss window {w} s > RPO {r} s")
        else:
            passed.append(f"data-loss window {w} s <= RPO {r} s")
        if unexpected_seqs:
            failed.append(f"{len(unexpected_seqs)} present values were never written (corruption)")
        if expect.max_lost is not None:
            if lost > expect.max_lost:
                failed.append(f"lost {lost} > max_lost {expect.max_lost}")
            else:
                passed.append(f"lost {lost} <= max_lost {expect.max_lost}")
        if expect.min_lost is not None:
            if lost < expect.min_lost:
                failed.append(f"lost {lost} < min_lost {expect.min_lost}")
            else:
                passed.append(f"lost {lost} >= min_lost {expect.min_lost}")
        if expect.max_rto_s is not None:
            node = final.node if final is not None else "?"
            if rto is None:
                failed.append(
                    f"no acknowledged write on {node} after the outage "
                    f"(max_rto {_fmt(expect.max_rto_s)} s)"
                )
            else:
                a, b = _fmt_pair(rto, expect.max_rto_s)
                if rto > expect.max_rto_s:
                    failed.append(f"RTO {a} s > max_rto {b} s")
                else:
                    passed.append(f"RTO {a} s <= max_rto {b} s")
        verdict = Verdict.FAIL if failed else Verdict.PASS
        reasons = failed or passed

    return Measurement(
        verdict=verdict,
        reasons=tuple(reasons),
        rpo_declared_s=expect.rpo_s,
        attempted=len(ops),
        acknowledged=len(acked),
        lost=lost,
        recovered=recovered,
        phantom=len(phantom_seqs),
        unexpected=len(unexpected_seqs),
        holes=holes,
        recovery_point_s=recovery_point,
        outage_at_s=outage_at_s,
        data_loss_window_s=window,
        loss_span_s=loss_span,
        rto_s=rto,
        lost_seqs=tuple(sorted(op.seq for op in lost_ops)),
        phantom_seqs=phantom_seqs,
        unexpected_seqs=unexpected_seqs,
        lost_after_cancelled_sync_wait=tuple(
            sorted(op.seq for op in lost_ops if op.note == SYNC_WAIT_CANCELLED)
        ),
        first_lost_s=first_lost,
        last_lost_s=last_lost,
    )


def _done(op: Op) -> float:
    """Complete time of an op known to have completed."""
    if op.complete_s is None:
        raise AssertionError(f"seq {op.seq} has no complete time")
    return op.complete_s


def _ack_order(op: Op) -> tuple[float, int]:
    return (_done(op), op.seq)


def _recovery_point(
    ops: Sequence[Op], acked: Sequence[Op], present: frozenset[int]
) -> float | None:
    """Complete time of the last op of the longest all-present prefix of ``acked`` (already in
    complete-time order, ties by seq); the first invoke if the first ack is lost; None if none."""
    if not acked:
        return None
    point: float | None = None
    for op in acked:
        if op.seq not in present:
            break
        point = _done(op)
    if point is None:  # the earliest acknowledged op is already lost: nothing was safe
        return min(op.invoke_s for op in ops)
    return point


def _rto(ops: Sequence[Op], node: str, outage_at_s: float | None) -> float | None:
    """First acknowledgement (earliest complete time) among ok ops invoked at or after the
    outage on ``node``, minus the outage time."""
    if outage_at_s is None:
        return None
    done = [
        _done(op)
        for op in ops
        if op.outcome == Outcome.OK
        and op.complete_s is not None
        and op.node == node
        and op.invoke_s >= outage_at_s
    ]
    first = min(done, default=None)
    return None if first is None else first - outage_at_s


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _fmt_pair(a: float, b: float) -> tuple[str, str]:
    """Format two durations with 2 decimals, or with as many more (up to 6) as it takes for
    them to print differently when they differ, so "0.00 s > RPO 0.00 s" never appears."""
    for digits in range(2, 7):
        fa, fb = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if a == b or fa != fb:
            return fa, fb
    return fa, fb
