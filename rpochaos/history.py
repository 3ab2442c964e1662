"""Operations, the append-only journal (history.jsonl) and its columns (``History``).

Every write the workload attempts gets a unique, increasing sequence number. The journal
records, on the harness clock (seconds since the run's t0, from ``time.monotonic``), two lines
per operation, each written whole by one ``write`` system call as soon as it happens, so that a
crash of the harness loses nothing already acknowledged. Each line is a JSON array (format 2):

    ["i",12,1.234500000,0]                      invoke: seq, t, worker
    ["c",12,1.240100000,"ok","primary",null]    complete: seq, t, outcome, node, note

``t`` always has exactly 9 decimals (nanoseconds). outcome is ``ok`` (acknowledged), ``fail``
(definitely not applied, e.g. connection refused before sending) or ``info`` (unknown: timeout,
connection lost after sending, any exception). node is the node that executed the write, or
null; note is free text, null, or one of the markers in ``NOTES``. An operation with an invoke
line but no complete line (the harness died) reads back as outcome ``info`` with complete None.

Format 1 (rpochaos before format 2; still read, line by line) had one JSON object per line:
``{"type":"invoke","seq":12,"t":1.2345,"worker":0}`` and ``{"type":"complete","seq":12,
"t":1.2401,"outcome":"ok","node":"primary","note":null}``. A file may mix both.

A ``History`` holds a journal as columns of a few bytes per operation (no Python object per
operation); reading it back is rpochaos/history_read.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rpochaos.closing import Closing

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]


class Outcome(StrEnum):
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


#: outcome codes of ``History.outcome``
OK, FAIL, INFO = 0, 1, 2
OUTCOME_CODE = {Outcome.OK: OK, Outcome.FAIL: FAIL, Outcome.INFO: INFO}
OUTCOME_OF = (Outcome.OK, Outcome.FAIL, Outcome.INFO)

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


class Journal(Closing):
    """Append-only, thread-safe writer of history.jsonl in format 2. Each line is built before
    the lock is taken and written whole by one ``write`` on a file opened for appending, so
    lines from different threads never interleave and a line is in the file (the OS's page
    cache: a killed harness loses nothing; a power cut is outside what a run promises) as soon
    as the call returns. The lock is held only for that one system call, as the file object's
    own lock was before. Usable as a context manager; ``close`` is idempotent; recording after
    ``close`` raises ValueError, as does a time that is not finite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _write(self, line: str, seq: int) -> None:
        data = line.encode()
        with self._lock:
            if self._fd is None:
                raise ValueError(f"journal {self.path} is closed; cannot record seq {seq}")
            os.write(self._fd, data)

    def invoke(self, seq: int, t: float, worker: int = 0) -> None:
        self._write(invoke_line(seq, t, worker), seq)

    def complete(
        self,
        seq: int,
        t: float,
        outcome: Outcome,
        node: str | None = None,
        note: str | None = None,
    ) -> None:
        self._write(complete_line(seq, t, outcome, node, note), seq)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                finally:
                    self._fd = None


def invoke_line(seq: int, t: float, worker: int = 0) -> str:
    """The journal line of an invoke (with its newline)."""
    return f'["i",{int(seq)},{_time(t)},{int(worker)}]\n'


def complete_line(
    seq: int, t: float, outcome: Outcome, node: str | None = None, note: str | None = None
) -> str:
    """The journal line of a complete (with its newline)."""
    o = Outcome(outcome).value
    return f'["c",{int(seq)},{_time(t)},"{o}",{_text(node)},{_text(note)}]\n'


def _time(t: float) -> str:
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"t={t!r}: a journal time must be a finite number of seconds")
    return f"{t:.9f}"


_PLAIN = re.compile(r"[A-Za-z0-9_.:@/+=-]*")


def _text(s: str | None) -> str:
    if s is None:
        return "null"
    return f'"{s}"' if _PLAIN.fullmatch(s) else json.dumps(s)


@dataclass(frozen=True, eq=False)
class History:
    """The operations of a history as columns, sorted by seq (unique). ``complete_s`` is NaN
    and ``outcome`` INFO for an operation that never completed; ``node`` and ``note`` index
    ``nodes`` and ``notes`` (-1: none). About 37 bytes per operation."""

    seq: I64
    invoke_s: F64
    complete_s: F64
    outcome: I8  # OK, FAIL or INFO
    node: I32
    note: I32
    worker: I32
    nodes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.seq)

    @classmethod
    def empty(cls) -> History:
        return cls.from_ops([])

    @classmethod
    def from_ops(cls, ops: Iterable[Op]) -> History:
        """Columns of ``ops`` in seq order (a stable sort: equal seqs keep their order)."""
        ops = list(ops)
        nodes: dict[str, int] = {}
        notes: dict[str, int] = {}

        def code(table: dict[str, int], s: str | None) -> int:
            return -1 if s is None else table.setdefault(s, len(table))

        seq = np.array([op.seq for op in ops], dtype=np.int64)
        order = np.argsort(seq, kind="stable")
        done = [op.complete_s is not None for op in ops]
        h = cls(
            seq=seq[order],
            invoke_s=np.array([op.invoke_s for op in ops], dtype=np.float64)[order],
            complete_s=np.array(
                [math.nan if op.complete_s is None else op.complete_s for op in ops],
                dtype=np.float64,
            )[order],
            outcome=np.array(
                [
                    OUTCOME_CODE[Outcome(op.outcome)] if d else INFO
                    for op, d in zip(ops, done, strict=True)
                ],
                dtype=np.int8,
            )[order],
            node=np.array([code(nodes, op.node) for op in ops], dtype=np.int32)[order],
            note=np.array([code(notes, op.note) for op in ops], dtype=np.int32)[order],
            worker=np.array([op.worker for op in ops], dtype=np.int32)[order],
            nodes=tuple(nodes),
            notes=tuple(notes),
        )
        return h

    def ops(self) -> list[Op]:
        """One ``Op`` per operation, in seq order (for small histories and tests)."""
        return list(self.iter_ops())

    def iter_ops(self) -> Iterator[Op]:
        nodes, notes = self.nodes, self.notes
        for s, i, c, o, nd, nt, w in zip(
            self.seq.tolist(),
            self.invoke_s.tolist(),
            self.complete_s.tolist(),
            self.outcome.tolist(),
            self.node.tolist(),
            self.note.tolist(),
            self.worker.tolist(),
            strict=True,
        ):
            yield Op(
                seq=s,
                invoke_s=i,
                complete_s=None if math.isnan(c) else c,
                outcome=OUTCOME_OF[o],
                node=None if nd < 0 else nodes[nd],
                note=None if nt < 0 else notes[nt],
                worker=w,
            )

    def code_of_node(self, name: str) -> int:
        """The code of node ``name`` in ``node`` (-2, matching nothing, if it never appears)."""
        return self.nodes.index(name) if name in self.nodes else -2

    def code_of_note(self, text: str) -> int:
        return self.notes.index(text) if text in self.notes else -2


# -- reading -------------------------------------------------------------------------------
