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

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from rpochaos.jsonl import JsonlAppender


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
    """Append-only, thread-safe writer of history.jsonl (a ``JsonlAppender``: each line whole and
    flushed when written). Usable as a context manager; ``close`` is idempotent; recording
    after ``close`` raises ValueError."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._out = JsonlAppender(self.path, allow_nan=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, record: dict[str, object]) -> None:
        if not self._out.append(record):
            raise ValueError(f"journal {self.path} is closed; cannot record seq {record['seq']}")

    def invoke(self, seq: int, t: float, worker: int = 0) -> None:
        self._write({"type": "invoke", "seq": seq, "t": t, "worker": worker})

    def complete(
        self,
        seq: int,
        t: float,
        outcome: Outcome,
        node: str | None = None,
        note: str | None = None,
    ) -> None:
        self._write(
            {
                "type": "complete",
                "seq": seq,
                "t": t,
                "outcome": Outcome(outcome).value,
                "node": node,
                "note": note,
            }
        )

    def close(self) -> None:
        self._out.close()


def read_history(path: Path) -> list[Op]:
    """Read history.jsonl back into ops sorted by seq. Tolerates a truncated last line (a
    harness killed mid-write); raises ValueError naming the line for any other bad line."""
    path = Path(path)
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines[-1] == b"":  # the file ends with a newline (or is empty)
        raw_lines.pop()
    located: list[tuple[str, _Record]] = []
    last = len(raw_lines)
    for number, raw in enumerate(raw_lines, start=1):
        where = f"{path}: line {number}"
        try:
            record = _parse_record(_decode_line(raw))
        except ValueError as e:
            if number == last:
                # The harness was killed mid-write: the last line is partial. Everything
                # before it was flushed whole, so nothing acknowledged is lost by skipping it.
                break
            raise ValueError(f"{where}: {e}") from None
        located.append((where, record))
    return _pair(located)


def ops_from_records(records: Iterable[dict[str, object]]) -> list[Op]:
    """Pair invoke/complete records into ops (pure; used by read_history and by tests)."""
    located: list[tuple[str, _Record]] = []
    for number, obj in enumerate(records, start=1):
        where = f"record {number}"
        try:
            located.append((where, _parse_record(obj)))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return _pair(located)


@dataclass(frozen=True)
class _Record:
    type: str  # "invoke" or "complete"
    seq: int
    t: float
    worker: int = 0
    outcome: Outcome | None = None
    node: str | None = None
    note: str | None = None


def _decode_line(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise ValueError("empty line, expected a JSON object")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e.msg} at column {e.colno}): {text[:80]!r}") from None


_OUTCOMES = tuple(o.value for o in Outcome)


def _parse_record(obj: object) -> _Record:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind not in ("invoke", "complete"):
        raise ValueError(f"type={kind!r}, expected 'invoke' or 'complete'")
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError(f"seq={seq!r}, expected an integer")
    t = obj.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise ValueError(f"seq {seq}: t={t!r}, expected a finite number of seconds")
    if kind == "invoke":
        worker = obj.get("worker", 0)
        if not isinstance(worker, int) or isinstance(worker, bool):
            raise ValueError(f"seq {seq}: worker={worker!r}, expected an integer")
        return _Record(type="invoke", seq=seq, t=float(t), worker=worker)
    outcome = obj.get("outcome")
    if outcome not in _OUTCOMES:
        raise ValueError(
            f"seq {seq}: outcome={outcome!r}, expected one of "
            + ", ".join(repr(o) for o in _OUTCOMES)
        )
    parsed = Outcome(str(outcome))
    node = obj.get("node")
    if node is not None and not isinstance(node, str):
        raise ValueError(f"seq {seq}: node={node!r}, expected a string or null")
    note = obj.get("note")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"seq {seq}: note={note!r}, expected a string or null")
    return _Record(type="complete", seq=seq, t=float(t), outcome=parsed, node=node, note=note)


def _pair(located: Iterable[tuple[str, _Record]]) -> list[Op]:
    invokes: dict[int, tuple[str, _Record]] = {}
    completes: dict[int, tuple[str, _Record]] = {}
    for where, rec in located:
        seen = invokes if rec.type == "invoke" else completes
        if rec.seq in seen:
            raise ValueError(
                f"{where}: second {rec.type} for seq {rec.seq} (first at {seen[rec.seq][0]})"
            )
        seen[rec.seq] = (where, rec)
    for seq, (where, _rec) in completes.items():
        if seq not in invokes:
            raise ValueError(f"{where}: complete for seq {seq} without an invoke")
    ops: list[Op] = []
    for seq in sorted(invokes):
        inv = invokes[seq][1]
        if seq not in completes:
            ops.append(
                Op(
                    seq=seq,
                    invoke_s=inv.t,
                    complete_s=None,
                    outcome=Outcome.INFO,
                    worker=inv.worker,
                )
            )
            continue
        where, comp = completes[seq]
        if comp.t < inv.t:
            raise ValueError(
                f"{where}: seq {seq} completes at t={comp.t} before its invoke at t={inv.t}"
            )
        assert comp.outcome is not None
        ops.append(
            Op(
                seq=seq,
                invoke_s=inv.t,
                complete_s=comp.t,
                outcome=comp.outcome,
                node=comp.node,
                note=comp.note,
                worker=inv.worker,
            )
        )
    return ops
