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

The computation works over a ``History``'s columns and the final read as a sorted array: a few
vector passes over the operations, no sort and no Python object per operation. ``measure``
accepts a list of ``Op`` too (converted to columns first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from rpochaos.history import FAIL, INFO, OK, SYNC_WAIT_CANCELLED, History, Op
from rpochaos.seqs import KINDS, SeqSet

Mask = npt.NDArray[np.bool_]


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class FinalRead:
    """The final read: the node read (the surviving primary), every seq present, and the
    harness time of the read. ``seqs`` may be any iterable of ints or an int64 array;
    ``present`` is them as a ``SeqSet`` and ``seqs`` (for callers of the object API) as a
    frozenset, made on first use."""

    __slots__ = ("_frozen", "_given", "_present", "at_s", "node")

    def __init__(self, node: str, seqs: Iterable[int] | npt.NDArray[np.int64], at_s: float) -> None:
        self.node = node
        self.at_s = at_s
        self._given = seqs
        self._present: SeqSet | None = seqs if isinstance(seqs, SeqSet) else None
        self._frozen: frozenset[int] | None = seqs if isinstance(seqs, frozenset) else None

    @property
    def present(self) -> SeqSet:
        if self._present is None:
            self._present = SeqSet(self._given)
        return self._present

    @property
    def seqs(self) -> frozenset[int]:
        if self._frozen is None:
            self._frozen = frozenset(self.present)
        return self._frozen

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FinalRead)
            and (self.node, self.at_s) == (other.node, other.at_s)
            and self.present == other.present
        )

    def __hash__(self) -> int:
        return hash((self.node, self.at_s, self.present))

    def __repr__(self) -> str:
        return f"FinalRead(node={self.node!r}, seqs={self.present!r}, at_s={self.at_s!r})"


@dataclass(frozen=True)
class Expectations:
    rpo_s: float
    max_lost: int | None = None
    min_lost: int | None = None
    max_rto_s: float | None = None


_EMPTY = SeqSet()


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
    lost_seqs: SeqSet = field(default=_EMPTY)
    phantom_seqs: SeqSet = field(default=_EMPTY)
    unexpected_seqs: SeqSet = field(default=_EMPTY)
    recovered_seqs: SeqSet = field(default=_EMPTY)
    #: lost acks whose op carried the note SYNC_WAIT_CANCELLED
    lost_after_cancelled_sync_wait: SeqSet = field(default=_EMPTY)
    first_lost_s: float | None = None  # complete time of the first lost ack
    last_lost_s: float | None = None

    def seq_sets(self) -> dict[str, SeqSet]:
        """The sets by the names of ``seqs.KINDS``."""
        return {
            "lost": self.lost_seqs,
            "recovered": self.recovered_seqs,
            "phantom": self.phantom_seqs,
            "unexpected": self.unexpected_seqs,
            "lost_after_cancelled_sync_wait": self.lost_after_cancelled_sync_wait,
        }

    def to_dict(self) -> dict[str, object]:
        """JSON-able dict: verdict, reasons, rpo_declared_s, writes{attempted, acknowledged,
        lost, recovered, phantom, unexpected, holes, lost_after_cancelled_sync_wait (a
        count), seq_ranges{lost, recovered, phantom, unexpected,
        lost_after_cancelled_sync_wait: every range}}, recovery_point_s, outage_at_s,
        data_loss_window_s, loss_span_s, first_lost_s, last_lost_s, rto_s."""
        sets = self.seq_sets()
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
                "lost_after_cancelled_sync_wait": len(self.lost_after_cancelled_sync_wait),
                "seq_ranges": {k: [list(r) for r in sets[k].ranges()] for k in KINDS},
            },
            "recovery_point_s": _round(self.recovery_point_s),
            "outage_at_s": _round(self.outage_at_s),
            "data_loss_window_s": _round(self.data_loss_window_s),
            "loss_span_s": _round(self.loss_span_s),
            "first_lost_s": _round(self.first_lost_s),
            "last_lost_s": _round(self.last_lost_s),
            "rto_s": _round(self.rto_s),
        }


def as_history(ops: Sequence[Op] | History) -> History:
    """``ops`` as columns; ValueError when a seq appears in more than one op."""
    h = ops if isinstance(ops, History) else History.from_ops(ops)
    dup = np.flatnonzero(h.seq[1:] == h.seq[:-1])
    if len(dup):
        raise ValueError(
            f"seq {int(h.seq[dup[0]])} appears in more than one op; seqs must be unique"
        )
    return h


def _max(x: npt.NDArray[np.float64]) -> float | None:
    return float(x.max()) if len(x) else None


def _min(x: npt.NDArray[np.float64]) -> float | None:
    return float(x.min()) if len(x) else None


def presence(h: History, final: SeqSet) -> tuple[Mask, SeqSet]:
    """For each op, whether its seq is in the final read; and the final read's seqs that no op
    has (unexpected). O(n) with bitmaps when the seqs are dense, else by binary search."""
    p = final.array
    if not len(h) or not len(p):
        return np.zeros(len(h), bool), final if not len(h) else _EMPTY
    lo = min(int(h.seq[0]), int(p[0]))
    span = max(int(h.seq[-1]), int(p[-1])) - lo + 1
    if span <= 4 * (len(h) + len(p)) + 4096:
        bits = np.zeros(span, bool)
        bits[p - lo] = True
        mask: Mask = bits[h.seq - lo]
        bits[:] = False
        bits[h.seq - lo] = True
        return mask, SeqSet.from_sorted(p[~bits[p - lo]])
    mask = final.contains(h.seq)
    return mask, SeqSet.from_sorted(p[~SeqSet.from_sorted(h.seq).contains(p)])


def measure(
    ops: Sequence[Op] | History,
    final: FinalRead | None,
    outage_at_s: float | None,
    expect: Expectations,
) -> Measurement:
    """Compute every number and the verdict. Pure; no I/O."""
    h = as_history(ops)
    acked = h.outcome == OK  # an op that never completed reads as INFO in a History
    n_acked = int(np.count_nonzero(acked))
    c = h.complete_s

    lost_seqs = phantom_seqs = unexpected_seqs = recovered_seqs = cancelled = _EMPTY
    lost_c = np.zeros(0)
    holes = 0
    recovery_point: float | None = None
    rto: float | None = None
    if final is not None:
        present, unexpected_seqs = presence(h, final.present)
        lost = acked & ~present
        lost_c = c[lost]
        lost_seqs = SeqSet.from_sorted(h.seq[lost])
        recovered_seqs = SeqSet.from_sorted(h.seq[present & (h.outcome == INFO)])
        phantom_seqs = SeqSet.from_sorted(h.seq[present & (h.outcome == FAIL)])
        cancelled = SeqSet.from_sorted(
            h.seq[lost & (h.note == h.code_of_note(SYNC_WAIT_CANCELLED))]
        )
        recovery_point = _recovery_point(h, acked, lost, lost_c)
        # holes: lost acks older than an ack that survived from before the outage (acks on
        # the new primary after the failover would make every lost write a "hole")
        kept = acked & present
        if outage_at_s is not None:
            kept &= c <= outage_at_s
        newest_present = _max(c[kept])
        holes = 0 if newest_present is None else int(np.count_nonzero(lost_c < newest_present))
        rto = _rto(h, final.node, outage_at_s)

    first_lost = _min(lost_c)
    last_lost = _max(lost_c)
    loss_span = None if first_lost is None or last_lost is None else last_lost - first_lost
    n_lost = len(lost_seqs)
    window: float | None
    if outage_at_s is None or recovery_point is None:
        window = None
    elif n_lost == 0:
        window = 0.0
    else:
        end = outage_at_s if last_lost is None else max(outage_at_s, last_lost)
        window = max(0.0, end - recovery_point)

    verdict, reasons = _verdict(
        final, outage_at_s, n_acked, window, n_lost, len(unexpected_seqs), rto, expect
    )
    return Measurement(
        verdict=verdict,
        reasons=tuple(reasons),
        rpo_declared_s=expect.rpo_s,
        attempted=len(h),
        acknowledged=n_acked,
        lost=n_lost,
        recovered=len(recovered_seqs),
        phantom=len(phantom_seqs),
        unexpected=len(unexpected_seqs),
        holes=holes,
        recovery_point_s=recovery_point,
        outage_at_s=outage_at_s,
        data_loss_window_s=window,
        loss_span_s=loss_span,
        rto_s=rto,
        lost_seqs=lost_seqs,
        phantom_seqs=phantom_seqs,
        unexpected_seqs=unexpected_seqs,
        recovered_seqs=recovered_seqs,
        lost_after_cancelled_sync_wait=cancelled,
        first_lost_s=first_lost,
        last_lost_s=last_lost,
    )


def _verdict(
    final: FinalRead | None,
    outage_at_s: float | None,
    n_acked: int,
    window: float | None,
    lost: int,
    unexpected: int,
    rto: float | None,
    expect: Expectations,
) -> tuple[Verdict, list[str]]:
    unknown: list[str] = []
    if final is None:
        unknown.append("no final read: the run ended before the surviving primary was read")
    if outage_at_s is None:
        unknown.append("the outage step never ran")
    if not n_acked:
        unknown.append("no acknowledged writes")
    if unknown or window is None:
        return Verdict.UNKNOWN, unknown or ["the data-loss window could not be computed"]
    failed: list[str] = []
    passed: list[str] = []
    rpo = expect.rpo_s
    w, r = _fmt_pair(window, rpo)
    if window > rpo:
        failed.append(f"data-loss window {w} s > RPO {r} s")
    else:
        passed.append(f"data-loss window {w} s <= RPO {r} s")
    if unexpected:
        failed.append(f"{unexpected} present values were never written (corruption)")
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
    return (Verdict.FAIL if failed else Verdict.PASS), failed or passed


def _recovery_point(
    h: History, acked: Mask, lost: Mask, lost_c: npt.NDArray[np.float64]
) -> float | None:
    """Complete time of the last op of the longest all-present prefix of the acks in
    (complete time, seq) order: the latest ack ordered before the first lost one; the first
    invoke if the first ack is lost; None if there is no ack. Found without sorting."""
    if not bool(acked.any()):
        return None
    c = h.complete_s
    if not len(lost_c):
        return float(c[acked].max())
    first_c = float(lost_c.min())
    first_seq = int(h.seq[lost & (c == first_c)].min())
    before = acked & ((c < first_c) | ((c == first_c) & (h.seq < first_seq)))
    point = _max(c[before])
    if point is None:  # the earliest acknowledged op is already lost: nothing was safe
        return float(h.invoke_s.min())
    return point


def _rto(h: History, node: str, outage_at_s: float | None) -> float | None:
    """First acknowledgement (earliest complete time) among ok ops invoked at or after the
    outage on ``node``, minus the outage time."""
    if outage_at_s is None:
        return None
    m = (h.outcome == OK) & (h.node == h.code_of_node(node)) & (h.invoke_s >= outage_at_s)
    first = _min(h.complete_s[m])
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
