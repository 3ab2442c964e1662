"""result.json's ``witness``: where each lost write went, from the old primary's own disk.

``witness_part(run_dir, lost, present, durability)`` reads ``witness.json`` (written by
``rpochaos.witness.role`` after the final read; absent when the run had no old primary to
read) and classifies the lost writes (``rpochaos.witness.classify``): ``on_old_primary``,
``gone``, and the witness's own ``in_flight_present`` (committed past the fork, never
acknowledged). Because ``lost`` is acknowledged-minus-present, the acknowledged writes past
the fork are exactly the lost ones on the old primary, so the journal's lost set is all the
classification needs. Counts come with their sequence numbers as ranges, like
``writes.seq_ranges``. A durable-ack write that is ``gone`` gives ``fail_reason``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rpochaos.witness.classify import classify, durable, ranges
from rpochaos.witness.model import ReadFrom, Status, load


class Witness(BaseModel):
    """The witness's verdict on the lost writes (docs/measurement.md, "The witness")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Status = "unavailable"
    #: why the witness is unavailable, or how its two counts disagree (mismatch)
    why: str | None = None
    system: str = "postgres"
    #: the old primary (old leader) whose disk was read
    node: str | None = None
    fork_lsn: str | None = None
    fork_offset: int | None = None
    on_old_primary: int = 0
    gone: int = 0
    in_flight_present: int = 0
    #: PostgreSQL: pg_waldump's count of the workload's commits past the fork
    waldump_commits: int | None = None
    #: Kafka: DumpLogSegments' count of records past the fork
    records_past_fork: int | None = None
    on_old_primary_seqs: list[tuple[int, int]] = Field(default_factory=list)
    gone_seqs: list[tuple[int, int]] = Field(default_factory=list)
    in_flight_present_seqs: list[tuple[int, int]] = Field(default_factory=list)
    #: the acknowledgements promised the write was on the old primary's disk
    durable: bool = True
    #: the FAIL reason when a durable-ack write is gone, else None
    fail_reason: str | None = None
    #: seconds the witness added to the run
    took_s: float | None = None
    #: which disk was read: at teardown, or (Patroni) the copy taken before the old leader
    #: rejoined, so before any pg_rewind of it
    read_from: ReadFrom | None = None
    #: Patroni: how long that copy took (what it delayed the old leader's rejoin by)
    snapshot_s: float | None = None

    def line(self) -> str:
        """One line for the reports: 'witness: ok: 1204 lost writes on primary's disk, ...'."""
        if self.status == "unavailable":
            return f"witness: unavailable ({self.why})"
        counted = (
            f"pg_waldump: {self.waldump_commits} commits past the fork at {self.fork_lsn}"
            if self.system == "postgres"
            else f"{self.records_past_fork} records past offset {self.fork_offset}"
        )
        took = "" if self.took_s is None else f", took {self.took_s:.2f} s"
        disk = f"{self.node}'s disk" + (
            " (copied before it rejoined)" if self.read_from == "before_rejoin" else ""
        )
        head = (
            f"witness: {self.status}: {self.on_old_primary} lost writes on {disk}, "
            f"{self.gone} gone, {self.in_flight_present} in flight at the crash ({counted}{took})"
        )
        return head if self.why is None else f"{head}: {self.why}"


def witness_part(
    run_dir: Path,
    lost: Iterable[int],
    present: Iterable[int] | None,
    durability: Mapping[str, object],
) -> Witness | None:
    """The run's ``Witness``, or None when the run has no witness.json. A witness.json that
    cannot be read gives ``unavailable`` with the reason (never an exception)."""
    try:
        report = load(run_dir)
    except ValueError as e:
        return Witness(why=str(e))
    if report is None:
        return None
    took = report.timings.run_s if report.timings.run_s is not None else report.timings.total_s
    base: dict[str, object] = {
        "system": report.system,
        "node": report.node,
        "fork_lsn": report.fork_lsn,
        "fork_offset": report.fork_offset,
        "waldump_commits": report.waldump_commits,
        "records_past_fork": report.records_past_fork,
        "took_s": None if took is None else round(took, 3),
        "read_from": report.read_from,
        "snapshot_s": report.timings.snapshot_s,
    }
    if report.status == "unavailable" or present is None:
        why = report.why if report.status == "unavailable" else "the run has no final read"
        return Witness.model_validate({**base, "status": "unavailable", "why": why})
    lost_s = frozenset(lost)
    k = classify(lost_s, lost_s, present, report.old_seqs, durable=durable(durability))
    return Witness.model_validate(
        {
            **base,
            "status": report.status,
            "why": report.why,
            "on_old_primary": len(k.on_old_primary),
            "gone": len(k.gone),
            "in_flight_present": len(k.in_flight_present),
            "on_old_primary_seqs": ranges(k.on_old_primary),
            "gone_seqs": ranges(k.gone),
            "in_flight_present_seqs": ranges(k.in_flight_present),
            "durable": k.durable,
            "fail_reason": k.fail_reason,
        }
    )
