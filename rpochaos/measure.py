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
- data-loss window = outage_at - recovery point, clamped at >= 0.
- loss span = complete time of the last lost ack - that of the first lost ack (0 with one; None
  with none). holes = lost acks that completed before some present ack.
- RTO = complete time of the first ok op invoked at or after outage_at on ``final.node``
  (the primary that survived), minus outage_at; None if there is none.
- verdict: UNKNOWN if the final read is missing, the outage never happened (outage_at None) or
  there are no acknowledged ops; else FAIL if window > rpo or any expectation (max_lost,
  min_lost, max_rto) fails; else PASS. Never PASS on missing data. ``reasons`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from rpochaos.history import Op


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
        raise NotImplementedError


def measure(
    ops: Sequence[Op],
    final: FinalRead | None,
    outage_at_s: float | None,
    expect: Expectations,
) -> Measurement:
    """Compute every number and the verdict. Pure; no I/O."""
    raise NotImplementedError
