"""Operations and the append-only journal.

Every write the workload attempts gets a unique, increasing sequence number. The journal
records, on the harness clock (seconds since the run's t0, from ``time.monotonic``), two
JSON lines per operation, each flushed to the OS as soon as it is written so that a crash of
the harness loses nothing already acknowledged:

    {"type": "invoke",   "seq": 12, "t": 1.2345, "worker": 0}
    {"type": "complete", "seq": 12, "t": 1.2401, "outcome": "ok", "node": "primary",
     "note": null}

outcome is ``ok`` (acknowledged), ``fail`` (definitely not applied, e.g. connection refused
before sending) or ``info`` (unknown: timeout, connection lost after sending, any exception).
``note`` is free text, or one of the markers in ``NOTES``. An operation with an invoke line
but no complete line (the harness died) reads back as outcome ``info`` with complete None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Outcome(StrEnum):
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


#: a commit that returned success with PostgreSQL's WARNING "canceling wait for synchronous
#: replication": acknowledged to the client, yet not known to be on any standby.
SYNC_WAIT_CANCELLED = "sync_wait_cancelled"
NOTES = frozenset({SYNC_WAIT_CANCELLED})


@dataclass(frozen=True)
class Op:
    seq: int
    invoke_s: float
    complete_s: float | None  # None: never completed (treated as info)
    outcome: Outcome
    node: str | None = None  # node that executed it, if known
    note: str | None = None
    worker: int = 0


class Journal:
    """Append-only, thread-safe writer of history.jsonl. Each line is flushed when written.
    Usable as a context manager; ``close`` is idempotent."""

    def __init__(self, path: Path) -> None:
        raise NotImplementedError

    def invoke(self, seq: int, t: float, worker: int = 0) -> None:
        raise NotImplementedError

    def complete(
        self,
        seq: int,
        t: float,
        outcome: Outcome,
        node: str | None = None,
        note: str | None = None,
    ) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def read_history(path: Path) -> list[Op]:
    """Read history.jsonl back into ops sorted by seq. Tolerates a truncated last line (a
    harness killed mid-write); raises ValueError naming the line for any other bad line."""
    raise NotImplementedError


def ops_from_records(records: Iterable[dict[str, object]]) -> list[Op]:
    """Pair invoke/complete records into ops (pure; used by read_history and by tests)."""
    raise NotImplementedError
