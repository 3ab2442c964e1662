"""The typed result model: what result.json holds, declared once.

``Result`` is the whole of result.json; ``Result.to_dict()`` is the file's content (result.json
is written from it) and ``Result.from_dict`` / ``Result.load`` read one back. Every field has a
default, so a result.json written by an older rpochaos (or a partial mapping in a test) still
loads: a field it lacks reads as its default, which for every measured time is None, "unknown".
Keys this version does not know are ignored.

Reports read these attributes, never string keys. Times are seconds on the harness clock
(docs/measurement.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from rpochaos.measure import Verdict
from rpochaos.result.semisync import SemiSync
from rpochaos.result.witness import Witness
from rpochaos.seqs import KINDS, SEQS, SeqSet, read_seqs

RESULT = "result.json"

#: a requested-to-effective gap at or below this is not worth showing (1 ms)
GAP_SHOWN_S = 0.001


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SeqRanges(_Part):
    """Sets of sequence numbers as ascending ``[first, last]`` ranges (rpochaos/seqs.py)."""

    lost: list[tuple[int, int]] = Field(default_factory=list)
    recovered: list[tuple[int, int]] = Field(default_factory=list)
    phantom: list[tuple[int, int]] = Field(default_factory=list)
    unexpected: list[tuple[int, int]] = Field(default_factory=list)
    lost_after_cancelled_sync_wait: list[tuple[int, int]] = Field(default_factory=list)


_OLD_LISTS = {
    "lost_seqs": "lost",
    "phantom_seqs": "phantom",
    "unexpected_seqs": "unexpected",
    "lost_after_cancelled_sync_wait": "lost_after_cancelled_sync_wait",
}


class Writes(_Part):
    """The counts of docs/measurement.md, and the sequence numbers behind them as ranges.

    ``seq_ranges`` holds at most ``RANGES_SHOWN`` ranges of each set; the sets cut short are
    named in ``seq_ranges_truncated``, and every set is whole in ``seqs_file`` (seqs.json.gz in
    the run directory). ``Result.seqs(kind)`` reads a whole set either way. A result.json
    written before ranges (lists ``lost_seqs``, ``phantom_seqs``, ``unexpected_seqs`` and the
    list ``lost_after_cancelled_sync_wait``) loads into this shape."""

    attempted: int = 0
    acknowledged: int = 0
    lost: int = 0
    recovered: int = 0
    phantom: int = 0
    unexpected: int = 0
    holes: int = 0
    #: how many lost acks carried the note sync_wait_cancelled
    lost_after_cancelled_sync_wait: int = 0
    seq_ranges: SeqRanges = Field(default_factory=SeqRanges)
    seq_ranges_truncated: list[str] = Field(default_factory=list)
    seqs_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_lists(cls, data: object) -> object:
        """Read the older shape: sequence lists instead of ranges."""
        if not isinstance(data, dict) or not any(isinstance(data.get(k), list) for k in _OLD_LISTS):
            return data
        data = dict(data)
        ranges = dict(data.get("seq_ranges") or {})
        for old, kind in _OLD_LISTS.items():
            values = data.pop(old, None)
            if isinstance(values, list):
                try:
                    ranges[kind] = SeqSet(int(v) for v in values).ranges()
                except (TypeError, ValueError):
                    raise ValueError(f"{old}: expected a list of integers") from None
                if kind == "lost_after_cancelled_sync_wait":
                    data[old] = len(values)
        data["seq_ranges"] = ranges
        return data


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


class Fault(_Part):
    """One scheduled step that ran.

    ``start_s`` is when the step's action was requested (the ``step_start`` event) and
    ``end_s`` when its heal returned (None: never healed; equal to ``start_s`` for an instant
    action). The four interval ends are the same instants named by what they are, with the two
    that only newer runs record: ``effective_start_s`` (the action took effect: the
    ``step_effective`` event) and ``requested_end_s`` (the heal began). None means unknown
    (not recorded, or not applicable)."""

    kind: str = "?"
    target: str = "?"
    start_s: float
    end_s: float | None = None
    params: dict[str, JsonValue] = Field(default_factory=dict)
    outage: bool = False
    requested_start_s: float | None = None
    effective_start_s: float | None = None
    requested_end_s: float | None = None
    effective_end_s: float | None = None

    @property
    def instant(self) -> bool:
        """An action with no duration (crash without ``for``, promote, restart, restore)."""
        return self.end_s is not None and self.end_s == self.start_s

    @property
    def start_gap_s(self) -> float | None:
        """Requested -> effective at the start; None when either end is unknown."""
        return _gap(self.requested_start_s, self.effective_start_s)

    @property
    def end_gap_s(self) -> float | None:
        """Heal requested -> heal done; None when either end is unknown or for an instant."""
        return None if self.instant else _gap(self.requested_end_s, self.effective_end_s)


class Failover(_Part):
    promoted: str | None = None
    refused: bool = False
    reason: str | None = None
    final_read_node: str | None = None


class LeaderChange(_Part):
    """A change of who holds Patroni's leader key (leadership.jsonl), on the harness clock.
    ``from_node``/``to_node`` None: nobody led. ``timeline``: the new leader's, as Patroni
    reported it during its term (None when nobody leads or it was never seen)."""

    t_s: float
    from_node: str | None = None
    to_node: str | None = None
    timeline: int | None = None


class SyncStandbys(_Part):
    """Patroni assigning a leader's synchronous standbys (its log, on the harness clock);
    ``to`` [] is the list emptied: the leader acknowledges with no standby from then on."""

    t_s: float
    node: str
    to: list[str] = Field(default_factory=list)


class Rewind(_Part):
    """A node's pg_rewind run by Patroni as it rejoined (its log, on the harness clock): what
    the node alone held past the fork is erased from its disk."""

    t_s: float
    node: str
    exit_code: int


class PatroniLog(_Part):
    """What the Patroni logs of a run say beyond leadership: every assignment of synchronous
    standbys during the run, every pg_rewind, and the writes the leader acknowledged while it
    had no synchronous standby (``synchronous_mode: on`` only: Patroni emptied the list, so
    those commits were on one disk when they were acknowledged)."""

    sync_standbys: list[SyncStandbys] = Field(default_factory=list)
    rewinds: list[Rewind] = Field(default_factory=list)
    acked_without_sync_standby: int | None = None
    #: when the first of those was acknowledged (None: none was)
    acked_without_sync_standby_from_s: float | None = None


class Workload(_Part):
    rate_per_s: float | None = None
    concurrency: int | None = None
    duration_s: float | None = None
    commit_timeout_s: float | None = None


class RealTime(_Part):
    """The measured times in the incident's own time (x ``time_scale``)."""

    data_loss_window_s: float | None = None
    rpo_declared_s: float | None = None
    rto_s: float | None = None
    outage_at_s: float | None = None
    recovery_point_s: float | None = None


class ReplicaObserved(_Part):
    max_lag_bytes: int | float | None = None
    max_stalled_s: float | None = None
    naive_lag_s_at_outage: float | None = None
    max_naive_lag_s: float | None = None


class Observed(_Part):
    """What the servers themselves reported, per replica name."""

    replicas: dict[str, ReplicaObserved] = Field(default_factory=dict)


class AckSpacing(_Part):
    """The spacing of acknowledgements at the two ends of the data-loss window (seconds):
    around the recovery point, the larger gap from it to its neighbouring acknowledgements;
    at the outage, the gap between the last two acknowledgements completed at or before the
    window's end. None where there is no such pair."""

    recovery_point_s: float | None = None
    outage_s: float | None = None


class Result(_Part):
    """result.json. Field order is the file's key order."""

    scenario: str | None = None
    seed: int | None = None
    backend: str | None = None
    run_dir: str | None = None
    verdict: Verdict = Verdict.UNKNOWN
    reasons: list[str] = Field(default_factory=list)
    rpo_declared_s: float | None = None
    writes: Writes = Field(default_factory=Writes)
    recovery_point_s: float | None = None
    outage_at_s: float | None = None
    data_loss_window_s: float | None = None
    loss_span_s: float | None = None
    first_lost_s: float | None = None
    last_lost_s: float | None = None
    rto_s: float | None = None
    faults: list[Fault] = Field(default_factory=list)
    #: the settings in force as read from the servers, plus ``replicas``: name -> mode
    durability: dict[str, JsonValue] = Field(default_factory=dict)
    workload: Workload = Field(default_factory=Workload)
    failover: Failover = Field(default_factory=Failover)
    time_scale: float = 1.0
    real_time: RealTime = Field(default_factory=RealTime)
    versions: dict[str, JsonValue] = Field(default_factory=dict)
    observed: Observed = Field(default_factory=Observed)
    bringup_s: float | None = None
    interrupted: bool = False
    reproduce: str | None = None
    #: when the outage's action was requested (``outage_at_s`` is when it took effect)
    outage_requested_at_s: float | None = None
    #: +- this around ``data_loss_window_s``: the coarser of ``ack_spacing_s``'s two ends
    window_resolution_s: float | None = None
    ack_spacing_s: AckSpacing = Field(default_factory=AckSpacing)
    #: MariaDB: semi-sync switches, commits acknowledged while it was off, rejoins; None
    #: for the other systems (``rpochaos.result.semisync``)
    semi_sync: SemiSync | None = None
    #: Patroni runs: each change of leader after the first seen (empty otherwise)
    leader_changes: list[LeaderChange] = Field(default_factory=list)
    #: Patroni runs: synchronous-standby assignments, pg_rewinds (None for other runs)
    patroni_log: PatroniLog | None = None
    #: where each lost write went, read from the old primary's disk (``rpochaos.witness``);
    #: None when the run had no old primary to read
    witness: Witness | None = None

    # -- reading and writing -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Validate a result.json mapping; raises ``ResultFormatError`` naming the key."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as e:
            raise ResultFormatError(_describe(e)) from None

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read ``path`` (a result.json, or a run directory holding one). Raises OSError when it
        cannot be read and ``ResultFormatError`` (a ValueError) when it is not a result."""
        path = Path(path)
        if path.is_dir():
            path = path / RESULT
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ResultFormatError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(data, dict):
            raise ResultFormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except ResultFormatError as e:
            raise ResultFormatError(f"{path}: {e}") from None

    def to_dict(self) -> dict[str, JsonValue]:
        """The JSON-able content of result.json (``leader_changes``, ``patroni_log``,
        ``semi_sync`` and ``witness`` only for a run that has them, so that other runs' files
        keep their keys)."""
        out: dict[str, JsonValue] = self.model_dump(mode="json")
        for key in ("semi_sync", "witness", "patroni_log"):
            if out.get(key) is None:
                out.pop(key, None)
        if not self.leader_changes:
            out.pop("leader_changes", None)
        return out

    # -- what readers ask ----------------------------------------------------------------
    @property
    def over_rpo(self) -> bool:
        """The window is known and exceeds the declared RPO."""
        w, r = self.data_loss_window_s, self.rpo_declared_s
        return w is not None and r is not None and w > r

    @property
    def outage_gap_s(self) -> float | None:
        """Outage requested -> in force; None when the request time is unknown."""
        return _gap(self.outage_requested_at_s, self.outage_at_s)

    def seqs(self, kind: str, run_dir: Path | None = None) -> SeqSet:
        """The whole set ``kind`` (one of ``seqs.KINDS``: lost, recovered, phantom, unexpected,
        lost_after_cancelled_sync_wait): from ``writes.seq_ranges`` when whole there, else from
        seqs.json.gz in ``run_dir`` (default: this result's ``run_dir``). Raises ValueError for
        an unknown kind or a truncated set whose file is missing or bad."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}, expected one of {', '.join(KINDS)}")
        w = self.writes
        if kind not in w.seq_ranges_truncated:
            return SeqSet.from_ranges(getattr(w.seq_ranges, kind))
        d = run_dir if run_dir is not None else Path(self.run_dir or ".")
        path = d / (w.seqs_file or SEQS)
        try:
            return read_seqs(path)[kind]
        except OSError as e:
            raise ValueError(f"{path}: cannot read the whole {kind} set ({e})") from None

    def settings_in_force(self) -> dict[str, JsonValue]:
        """``durability`` without its ``replicas`` entry."""
        return {k: v for k, v in self.durability.items() if k != "replicas"}

    def replica_modes(self) -> dict[str, str]:
        """``durability.replicas``: replica name -> mode ("sync", "async", ...)."""
        reps = self.durability.get("replicas")
        return {str(k): str(v) for k, v in reps.items()} if isinstance(reps, dict) else {}


class ResultFormatError(ValueError):
    """A result.json that is not one: names the file (when known), the key and what it held."""


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']} (given {err.get('input')!r})")
    return "; ".join(parts)


def as_result(data: Result | Mapping[str, object]) -> Result:
    """A ``Result`` as it is, or a result.json mapping validated into one."""
    return data if isinstance(data, Result) else Result.from_dict(data)
