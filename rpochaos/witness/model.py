"""What the witness found, typed: ``WitnessReport``, stored as ``witness.json`` in the run
directory (the copy of the old primary's disk is deleted after the read, so this file is what
``rpochaos lost`` exports from).

Sequence-number sets are stored as inclusive ranges (``[[1, 3], [7, 7]]``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rpochaos.witness.classify import from_ranges

WITNESS = "witness.json"

Status = Literal["ok", "mismatch", "unavailable"]
CommitTimeSource = Literal["track_commit_timestamp", "wal", "create_time"]
#: which disk of the old primary was read: as the run's teardown left it, or (Patroni) the
#: copy taken while it was down, before its Patroni started again (``rpochaos.witness.patroni``)
ReadFrom = Literal["at_teardown", "before_rejoin"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OldRow(_Part):
    """One row of the workload's table as the old primary's copy held it: its sequence number,
    every column as PostgreSQL's text form (None: SQL NULL), the inserting transaction's id,
    and its commit time (None: unknown) with where that time came from."""

    seq: int
    values: dict[str, str | None] = Field(default_factory=dict)
    xid: int | None = None
    commit_time: str | None = None
    commit_time_source: CommitTimeSource | None = None


class Timings(_Part):
    """Seconds each part of the witness took (None: that part did not run)."""

    fork_s: float | None = None
    copy_s: float | None = None
    copy_bytes: int | None = None
    #: WAL segments older than both the last checkpoint's redo point and the fork: not copied
    copy_skipped_segments: int | None = None
    #: pg_waldump (PostgreSQL) or DumpLogSegments (Kafka)
    dump_s: float | None = None
    recovery_s: float | None = None
    read_s: float | None = None
    cleanup_s: float | None = None
    total_s: float | None = None
    #: Patroni: the copy of the old leader's disk taken before it rejoined (what it delayed
    #: the rejoin by) and its size
    snapshot_s: float | None = None
    snapshot_bytes: int | None = None
    #: the witness as a step of a run (``rpochaos.witness.role``): ``total_s`` plus, on the
    #: docker backend, copying the data directories out of their volumes
    run_s: float | None = None


class WitnessReport(_Part):
    """The old primary's side of the story.

    ``status``: ``ok`` when pg_waldump's count of the workload's commits past the fork equals
    the number of seqs on the old primary that the new primary lacks (and every such row's
    transaction is among those commits); ``mismatch`` when not (``why`` says how); and
    ``unavailable`` when the witness could not read the old primary (``why`` says why; every
    other field may then be empty)."""

    system: str = "postgres"
    node: str = "?"
    status: Status = "unavailable"
    why: str | None = None
    table: str | None = None
    fork_lsn: str | None = None
    old_timeline: int | None = None
    new_timeline: int | None = None
    #: every seq on the old primary, as ranges
    old_seq_ranges: list[tuple[int, int]] = Field(default_factory=list)
    #: on the old primary, not in the new primary's final read, as ranges
    past_fork_ranges: list[tuple[int, int]] = Field(default_factory=list)
    #: pg_waldump: commits past the fork of transactions that wrote the workload's table
    waldump_commits: int | None = None
    #: Kafka: the partition read, where the new leader's log left the old leader's (the start
    #: offset of the new leader's first epoch after the old leader's last), and how many
    #: records DumpLogSegments lists on the old leader at or after it
    partition: int | None = None
    fork_offset: int | None = None
    records_past_fork: int | None = None
    #: Kafka: seqs past the fork on the old leader that the final read has too (a producer
    #: retry wrote them again to the new leader), as ranges
    resent_ranges: list[tuple[int, int]] = Field(default_factory=list)
    #: the table's columns in order (the row values' keys)
    columns: list[str] = Field(default_factory=list)
    #: the rows behind ``past_fork_ranges``, by seq
    rows: list[OldRow] = Field(default_factory=list)
    track_commit_timestamp: bool | None = None
    #: which disk was read (None: as at teardown, before this field existed)
    read_from: ReadFrom | None = None
    timings: Timings = Field(default_factory=Timings)

    @classmethod
    def unavailable(cls, node: str, why: str, timings: Timings | None = None) -> Self:
        return cls(node=node, status="unavailable", why=why, timings=timings or Timings())

    @classmethod
    def gave_up(
        cls, node: str, e: Exception, where: object, times: dict[str, float | int | None], t0: float
    ) -> Self:
        """``unavailable`` because of ``e``, with ``times`` (and ``total_s``, since
        ``time.monotonic()`` was ``t0``) as the timings. An OSError reads ``cannot read
        <its file, else where>: <why>``; anything else is its own message."""
        times["total_s"] = time.monotonic() - t0
        if isinstance(e, OSError):
            why = f"cannot read {e.filename or where}: {e.strerror or e}"
        else:
            why = str(e)
        return cls.unavailable(node, why, Timings.model_validate(times))

    @property
    def old_seqs(self) -> frozenset[int]:
        return from_ranges(self.old_seq_ranges)

    @property
    def past_fork(self) -> frozenset[int]:
        return from_ranges(self.past_fork_ranges)

    def rows_for(self, seqs: frozenset[int]) -> list[OldRow]:
        """The stored rows whose seq is in ``seqs``, by seq."""
        return sorted((r for r in self.rows if r.seq in seqs), key=lambda r: r.seq)

    def describe(self) -> str:
        """One line for the console."""
        if self.status == "unavailable":
            return f"witness: unavailable ({self.why})"
        if self.system == "kafka":
            at, counted = f"offset {self.fork_offset}", f"{self.records_past_fork} records"
        else:
            at, counted = f"{self.fork_lsn}", f"pg_waldump counts {self.waldump_commits} commits"
        disk = f"{self.node}'s disk" + (
            " (copied before it rejoined)" if self.read_from == "before_rejoin" else ""
        )
        head = (
            f"witness: {self.status}: {len(self.old_seqs)} writes on {disk}, "
            f"{len(self.past_fork)} past the fork at {at} ({counted})"
        )
        return head if self.why is None else f"{head}: {self.why}"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = self.model_dump(mode="json")
        return out


def save(report: WitnessReport, run_dir: Path) -> Path:
    """Write ``report`` to ``<run_dir>/witness.json`` (via a temporary file); its path."""
    path = Path(run_dir) / WITNESS
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load(run_dir: Path) -> WitnessReport | None:
    """``<run_dir>/witness.json``, or None when the run has none. ValueError naming the file
    and the key when it is not a witness report."""
    path = Path(run_dir) / WITNESS
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return WitnessReport.model_validate(data)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None
    except ValidationError as e:
        errs = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top level)'}: {err['msg']}"
            for err in e.errors()
        )
        raise ValueError(f"{path}: {errs}") from None
