"""Where each lost write went: pure set arithmetic over sequence numbers.

Inputs (all sets of sequence numbers): ``acknowledged`` (the client saw the commit succeed),
``lost`` (acknowledged, not in the final read of the new primary), ``present`` (in that final
read) and ``old`` (on the old primary's disk, as the witness read it).

- on_old_primary = lost & old: recoverable by hand until the old primary is rewound or rebuilt
- gone = lost - old: on no node at all
- in_flight_present = (old - present) - acknowledged: committed on the old primary past the
  fork, but the client never saw it acknowledged (in flight at the crash)
- past_fork = old - present: every commit of the workload on the old primary that the new
  primary lacks (= on_old_primary + in_flight_present when nothing is gone); pg_waldump's count
  of commits past the fork must equal its size

A write acknowledged with durable settings (``durable``) that is ``gone`` is a durability bug of
the system under test (or of ours): ``fail_reason`` names those writes as ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges: {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def from_ranges(rs: Iterable[tuple[int, int] | list[int]]) -> frozenset[int]:
    """The inverse of ``ranges``."""
    out: set[int] = set()
    for r in rs:
        lo, hi = int(r[0]), int(r[1])
        out.update(range(lo, hi + 1))
    return frozenset(out)


def format_ranges(seqs: Iterable[int], limit: int = 12) -> str:
    """'1-3, 7' (at most ``limit`` ranges, then '... (N more ranges)'); 'none' when empty."""
    rs = ranges(seqs)
    if not rs:
        return "none"
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in rs[:limit]]
    if len(rs) > limit:
        shown.append(f"... ({len(rs) - limit} more ranges)")
    return ", ".join(shown)


def durable(settings: Mapping[str, object]) -> bool:
    """Whether an acknowledgement promised the write was on the old primary's disk: fsync on
    and synchronous_commit not off (settings as read from the server, e.g. result.json's
    ``durability``). A missing setting counts as PostgreSQL's default (both on)."""
    fsync = str(settings.get("fsync", "on")).lower()
    sync = str(settings.get("synchronous_commit", "on")).lower()
    return fsync in ("on", "true", "1") and sync != "off"


@dataclass(frozen=True)
class Classification:
    """Each lost write's place, and the witness's own view of the commits past the fork."""

    on_old_primary: frozenset[int]
    gone: frozenset[int]
    in_flight_present: frozenset[int]
    past_fork: frozenset[int]
    durable: bool

    @property
    def fail_reason(self) -> str | None:
        """The FAIL reason when an acknowledged write is gone under durable settings, else
        None."""
        if not self.gone or not self.durable:
            return None
        n = len(self.gone)
        return (
            f"{n} acknowledged write{'s' if n != 1 else ''} (durable settings: fsync=on) "
            f"{'are' if n != 1 else 'is'} on no node, not even the old primary's disk: "
            f"seq {format_ranges(self.gone)} (a durability bug of the system under test, or of "
            "the harness)"
        )

    def to_dict(self) -> dict[str, object]:
        """The counts and the sequence numbers as ranges, for result.json's ``witness``."""
        return {
            "on_old_primary": len(self.on_old_primary),
            "gone": len(self.gone),
            "in_flight_present": len(self.in_flight_present),
            "past_fork": len(self.past_fork),
            "on_old_primary_seqs": [list(r) for r in ranges(self.on_old_primary)],
            "gone_seqs": [list(r) for r in ranges(self.gone)],
            "in_flight_present_seqs": [list(r) for r in ranges(self.in_flight_present)],
            "durable": self.durable,
        }


def classify(
    acknowledged: Iterable[int],
    lost: Iterable[int],
    present: Iterable[int],
    old: Iterable[int],
    *,
    durable: bool,
) -> Classification:
    """Classify the lost writes against the old primary's seqs (definitions: module doc).
    ``lost`` must be a subset of ``acknowledged``; seqs outside it are still classified."""
    acked, lost_s, present_s, old_s = (frozenset(x) for x in (acknowledged, lost, present, old))
    past = old_s - present_s
    return Classification(
        on_old_primary=lost_s & old_s,
        gone=lost_s - old_s,
        in_flight_present=past - acked,
        past_fork=past,
        durable=durable,
    )
