"""Operations, the append-only journal (history.jsonl) and reading it back as columns.

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

Reading (``read_columns``) parses whole chunks of format-2 lines at once with numpy
(rpochaos/history_scan.py) into a ``History``: columns of a few bytes per operation, no Python
object per operation. Any chunk the fast path does not accept is read line by line, which
accepts both formats and names the file and line of a bad one. The last line may be cut (a
harness killed mid-write): if it does not parse it is skipped; nothing acknowledged before it
is lost by that.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import orjson

from rpochaos.history_scan import Scanned, scan_chunk

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
_CODE = {Outcome.OK: OK, Outcome.FAIL: FAIL, Outcome.INFO: INFO}
_OUTCOME_OF = (Outcome.OK, Outcome.FAIL, Outcome.INFO)

#: a commit that returned success with PostgreSQL's WARNING "canceling wait for synchronous
#: replication": acknowledged to the client, yet not known to be on any standby.
SYNC_WAIT_CANCELLED = "sync_wait_cancelled"
NOTES = frozenset({SYNC_WAIT_CANCELLED})

#: bytes read per chunk when reading a journal
CHUNK = 2 << 20


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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
                    _CODE[Outcome(op.outcome)] if d else INFO
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
                outcome=_OUTCOME_OF[o],
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


@dataclass(frozen=True)
class _Record:
    type: str  # "invoke" or "complete"
    seq: int
    t: float
    worker: int = 0
    outcome: Outcome | None = None
    node: str | None = None
    note: str | None = None


class _Column:
    """A growable column: a preallocated array filled from the front. Capacity never written
    costs no memory (the OS maps pages on first write)."""

    def __init__(self, dtype: type[np.generic], capacity: int) -> None:
        self.a: npt.NDArray[Any] = np.empty(max(capacity, 16), dtype)
        self.n = 0

    def extend(self, x: npt.NDArray[Any]) -> None:
        end = self.n + len(x)
        if end > len(self.a):
            bigger = np.empty(max(2 * len(self.a), end), self.a.dtype)
            bigger[: self.n] = self.a[: self.n]
            self.a = bigger
        self.a[self.n : end] = x
        self.n = end

    def view(self) -> npt.NDArray[Any]:
        return self.a[: self.n]


class _Builder:
    """Collects records, chunk by chunk, into columns (each kind in file order)."""

    def __init__(self, capacity: int) -> None:
        self.inv_seq = _Column(np.int64, capacity)
        self.inv_t = _Column(np.float64, capacity)
        self.inv_worker = _Column(np.int32, capacity)
        self.comp_seq = _Column(np.int64, capacity)
        self.comp_t = _Column(np.float64, capacity)
        self.comp_outcome = _Column(np.int8, capacity)
        self.comp_node = _Column(np.int32, capacity)
        self.comp_note = _Column(np.int32, capacity)
        self.nodes: dict[str, int] = {}
        self.notes: dict[str, int] = {}
        self._rows_inv: list[tuple[int, float, int]] = []
        self._rows_comp: list[tuple[int, float, int, int, int]] = []

    def _code(self, table: dict[str, int], s: str | None) -> int:
        return -1 if s is None else table.setdefault(s, len(table))

    def add_scanned(self, sc: Scanned) -> bool:
        """Add a scanned chunk; False (nothing added) when a complete line's tail is bad."""
        decoded: list[tuple[int, int, int]] = []
        for raw in sc.rests:
            try:
                outcome, node, note = _tail(orjson.loads(b"[" + raw + b"]"))
            except (ValueError, orjson.JSONDecodeError):
                return False
            decoded.append((outcome, self._code(self.nodes, node), self._code(self.notes, note)))
        table = np.array(decoded, dtype=np.int64).reshape(-1, 3)
        codes = sc.rest_codes
        self.inv_seq.extend(sc.inv_seq)
        self.inv_t.extend(sc.inv_t_ns / 1e9)
        self.inv_worker.extend(sc.inv_worker)
        self.comp_seq.extend(sc.comp_seq)
        self.comp_t.extend(sc.comp_t_ns / 1e9)
        self.comp_outcome.extend(table[codes, 0])
        self.comp_node.extend(table[codes, 1])
        self.comp_note.extend(table[codes, 2])
        return True

    def add_record(self, r: _Record) -> None:
        if r.type == "invoke":
            self._rows_inv.append((r.seq, r.t, r.worker))
        else:
            assert r.outcome is not None
            self._rows_comp.append(
                (
                    r.seq,
                    r.t,
                    _CODE[r.outcome],
                    self._code(self.nodes, r.node),
                    self._code(self.notes, r.note),
                )
            )

    def flush(self) -> None:
        """Move records added one by one into the columns."""
        if self._rows_inv:
            s, t, w = zip(*self._rows_inv, strict=True)
            self.inv_seq.extend(np.array(s, np.int64))
            self.inv_t.extend(np.array(t, np.float64))
            self.inv_worker.extend(np.array(w, np.int64))
            self._rows_inv = []
        if self._rows_comp:
            s, t, o, nd, nt = zip(*self._rows_comp, strict=True)
            self.comp_seq.extend(np.array(s, np.int64))
            self.comp_t.extend(np.array(t, np.float64))
            self.comp_outcome.extend(np.array(o, np.int8))
            self.comp_node.extend(np.array(nd, np.int32))
            self.comp_note.extend(np.array(nt, np.int32))
            self._rows_comp = []

    def build(self) -> History | set[int]:
        """The History, or the set of seqs that break pairing (see ``_pair``)."""
        self.flush()
        return _pair(
            self.inv_seq.view(),
            self.inv_t.view(),
            self.inv_worker.view(),
            self.comp_seq.view(),
            self.comp_t.view(),
            self.comp_outcome.view(),
            self.comp_node.view(),
            self.comp_note.view(),
            nodes=tuple(self.nodes),
            notes=tuple(self.notes),
        )


def _pair(
    inv_seq: I64,
    inv_t: F64,
    inv_worker: I32,
    comp_seq: I64,
    comp_t: F64,
    comp_outcome: I8,
    comp_node: I32,
    comp_note: I32,
    *,
    nodes: tuple[str, ...],
    notes: tuple[str, ...],
) -> History | set[int]:
    """Join completes to invokes by seq. Returns the seqs at fault instead when a seq is
    invoked or completed twice, completed without an invoke, or completed before its invoke
    (the caller then finds the lines and says which)."""
    n = len(inv_seq)
    if n and not bool(np.all(inv_seq[1:] > inv_seq[:-1])):
        order = np.argsort(inv_seq, kind="stable")
        inv_seq, inv_t, inv_worker = inv_seq[order], inv_t[order], inv_worker[order]
        del order
        dup = inv_seq[1:] == inv_seq[:-1]
        if bool(dup.any()):  # error path: every kind of fault, so the first in the file is named
            u, c = np.unique(comp_seq, return_counts=True)
            orphans = comp_seq[~np.isin(comp_seq, inv_seq)]
            return set(inv_seq[1:][dup].tolist()) | set(u[c > 1].tolist()) | set(orphans.tolist())
    if n and len(comp_seq) and inv_seq[-1] - inv_seq[0] == n - 1:  # contiguous: index directly
        pos = comp_seq - inv_seq[0]
        found = (pos >= 0) & (pos < n)
    else:
        pos = np.minimum(np.searchsorted(inv_seq, comp_seq), max(n - 1, 0))
        found = inv_seq[pos] == comp_seq if n else np.zeros(len(comp_seq), bool)
    bad: set[int] = set()
    if not bool(found.all()):  # the rule is that all are found: no copies then
        bad = set(comp_seq[~found].tolist())
        pos = pos[found]
        comp_t, comp_outcome = comp_t[found], comp_outcome[found]
        comp_node, comp_note = comp_node[found], comp_note[found]
    del found
    seen = np.zeros(n, bool)
    seen[pos] = True
    if int(np.count_nonzero(seen)) < len(pos):  # a seq completed twice
        counts = np.bincount(pos, minlength=n)
        bad |= set(inv_seq[counts > 1].tolist())
    del seen
    if bad:
        return bad
    complete_s = np.full(n, np.nan)
    complete_s[pos] = comp_t
    early = complete_s < inv_t
    if bool(early.any()):
        return set(inv_seq[early].tolist())
    del early
    outcome = np.full(n, INFO, np.int8)
    outcome[pos] = comp_outcome
    node = np.full(n, -1, np.int32)
    node[pos] = comp_node
    note = np.full(n, -1, np.int32)
    note[pos] = comp_note
    return History(
        seq=inv_seq,
        invoke_s=inv_t,
        complete_s=complete_s,
        outcome=outcome,
        node=node,
        note=note,
        worker=inv_worker.astype(np.int32, copy=False),
        nodes=nodes,
        notes=notes,
    )


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to serve the chunk loop's arrays (each chunk allocates and frees
    the same sizes) from memory it keeps, not from fresh mmap()s: a third of the reading
    time was page faults. At most 64 MiB freed memory is kept. A no-op elsewhere."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 16 << 20)  # M_MMAP_THRESHOLD
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD


_tuned = False


def read_columns(path: Path) -> History:
    """Read history.jsonl (format 2 or 1) into columns sorted by seq. Tolerates a cut last
    line; raises ValueError naming the file and line for any other bad line, and for a seq
    invoked or completed twice, completed without an invoke or before its invoke."""
    path = Path(path)
    _keep_freed_memory()
    # each kind has at most one line per 22 bytes (the shortest line): room for all without
    # growing, and capacity never written takes no memory
    b = _Builder(path.stat().st_size // 22 + 1024)
    pending: ValueError | None = None  # a bad last line of a chunk: fatal unless last of file
    lines_before = 0
    carry = b""
    with path.open("rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            carry, whole = data[cut:], memoryview(data)[:cut]  # no copy of the chunk
            if not cut:
                continue
            if pending is not None:
                raise pending
            scanned = scan_chunk(whole)
            if scanned is not None and b.add_scanned(scanned):
                lines_before += len(scanned.inv_seq) + len(scanned.comp_seq)
            else:
                text = bytes(whole)
                pending = _slow(path, text, lines_before, b)
                lines_before += text.count(b"\n")
    if carry:  # a last line without its newline: kept if it parses
        if pending is not None:
            raise pending
        with contextlib.suppress(ValueError):
            b.add_record(_parse_line(carry))
    built = b.build()
    if isinstance(built, History):
        return built
    raise _pairing_error(path, built)


def _slow(path: Path, data: bytes, lines_before: int, b: _Builder) -> ValueError | None:
    """Add ``data``'s lines one by one; returns the error of its last line if only that one
    is bad (it may be the file's cut last line), raises the error of any other."""
    lines = data.split(b"\n")[:-1]
    last = len(lines)
    for number, raw in enumerate(lines, start=1):
        try:
            b.add_record(_parse_line(raw))
        except ValueError as e:
            err = ValueError(f"{path}: line {lines_before + number}: {e}")
            if number == last:
                return err
            raise err from None
    b.flush()
    return None


def _pairing_error(path: Path, seqs: set[int]) -> ValueError:
    """The error today's reader gave: the lines of the faulty seqs, paired in file order."""
    located: list[tuple[str, _Record]] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                rec = _parse_line(raw.rstrip(b"\n"))
            except ValueError:
                continue
            if rec.seq in seqs:
                located.append((f"{path}: line {number}", rec))
    try:
        _pair_records(located)
    except ValueError as e:
        return e
    return ValueError(f"{path}: inconsistent records for seqs {sorted(seqs)[:10]}")


def read_history(path: Path) -> list[Op]:
    """Read history.jsonl back into ops sorted by seq (``read_columns``, as objects)."""
    return read_columns(path).ops()


def ops_from_records(records: Iterable[dict[str, object]]) -> list[Op]:
    """Pair format-1 invoke/complete records into ops (pure; used by tests)."""
    located: list[tuple[str, _Record]] = []
    for number, obj in enumerate(records, start=1):
        where = f"record {number}"
        try:
            located.append((where, _parse_record(obj)))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return _pair_records(located)


def _parse_line(raw: bytes) -> _Record:
    if not raw.strip():
        raise ValueError("empty line, expected a JSON array or object")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as u:
            raise ValueError(f"not UTF-8 ({u.reason} at byte {u.start})") from None
        raise ValueError(f"invalid JSON ({e.msg} at column {e.colno}): {text[:80]!r}") from None
    if isinstance(obj, list):
        return _parse_array(obj)
    return _parse_record(obj)


_OUTCOMES = tuple(o.value for o in Outcome)


def _seq_of(seq: object) -> int:
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError(f"seq={seq!r}, expected an integer")
    return seq


def _t_of(seq: int, t: object) -> float:
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise ValueError(f"seq {seq}: t={t!r}, expected a finite number of seconds")
    return float(t)


def _tail(rest: object) -> tuple[int, str | None, str | None]:
    """A complete line's outcome, node and note (format 2)."""
    if not isinstance(rest, list) or len(rest) != 3:
        raise ValueError(f"expected outcome, node and note, got {rest!r}")
    outcome, node, note = rest
    if outcome not in _OUTCOMES:
        raise ValueError(
            f"outcome={outcome!r}, expected one of " + ", ".join(repr(o) for o in _OUTCOMES)
        )
    if node is not None and not isinstance(node, str):
        raise ValueError(f"node={node!r}, expected a string or null")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"note={note!r}, expected a string or null")
    return _CODE[Outcome(str(outcome))], node, note


def _parse_array(obj: Sequence[object]) -> _Record:
    kind = obj[0] if obj else None
    if kind == "i" and len(obj) == 4:
        seq = _seq_of(obj[1])
        worker = obj[3]
        if not isinstance(worker, int) or isinstance(worker, bool):
            raise ValueError(f"seq {seq}: worker={worker!r}, expected an integer")
        return _Record(type="invoke", seq=seq, t=_t_of(seq, obj[2]), worker=worker)
    if kind == "c" and len(obj) == 6:
        seq = _seq_of(obj[1])
        t = _t_of(seq, obj[2])
        try:
            code, node, note = _tail(list(obj[3:]))
        except ValueError as e:
            raise ValueError(f"seq {seq}: {e}") from None
        return _Record("complete", seq, t, outcome=_OUTCOME_OF[code], node=node, note=note)
    raise ValueError(
        f'{list(obj)[:2]!r}...: expected ["i", seq, t, worker] or '
        '["c", seq, t, outcome, node, note]'
    )


def _parse_record(obj: object) -> _Record:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object or array, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind not in ("invoke", "complete"):
        raise ValueError(f"type={kind!r}, expected 'invoke' or 'complete'")
    seq = _seq_of(obj.get("seq"))
    t = _t_of(seq, obj.get("t"))
    if kind == "invoke":
        worker = obj.get("worker", 0)
        if not isinstance(worker, int) or isinstance(worker, bool):
            raise ValueError(f"seq {seq}: worker={worker!r}, expected an integer")
        return _Record(type="invoke", seq=seq, t=t, worker=worker)
    try:
        code, node, note = _tail([obj.get("outcome"), obj.get("node"), obj.get("note")])
    except ValueError as e:
        raise ValueError(f"seq {seq}: {e}") from None
    return _Record("complete", seq, t, outcome=_OUTCOME_OF[code], node=node, note=note)


def _pair_records(located: Iterable[tuple[str, _Record]]) -> list[Op]:
    """The reference pairing of located records (errors name the record's place)."""
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
