"""Sets of sequence numbers: held as sorted numpy arrays, written as ranges.

``SeqSet`` is a sorted set of distinct seqs (lost, recovered, phantom, unexpected writes...).
Its ranges are the maximal runs of consecutive seqs, ``[[first, last], ...]`` in ascending
order: ``{3, 4, 5, 9}`` is ``[[3, 5], [9, 9]]``. result.json carries the first
``RANGES_SHOWN`` ranges of each set; the whole sets are in seqs.json.gz in the run directory
(``write_seqs`` / ``read_seqs``): gzip-compressed JSON, ``{"format": 1, "lost": [[3, 5], ...],
"recovered": [...], "phantom": [...], "unexpected": [...],
"lost_after_cancelled_sync_wait": [...]}``, read with ``zcat seqs.json.gz``.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

I64 = npt.NDArray[np.int64]
Range = tuple[int, int]

#: the name of the file of whole sets in a run directory
SEQS = "seqs.json.gz"
#: the sets result.json and seqs.json.gz carry, in this order
KINDS = ("lost", "recovered", "phantom", "unexpected", "lost_after_cancelled_sync_wait")
#: ranges of each set shown in result.json (the rest only in seqs.json.gz)
RANGES_SHOWN = 1000


class SeqSet:
    """A sorted set of distinct sequence numbers over a numpy int64 array (immutable)."""

    __slots__ = ("_a",)

    def __init__(self, values: Iterable[int] | I64 = ()) -> None:
        a = np.asarray(values if isinstance(values, np.ndarray) else list(values), np.int64)
        # already ascending and distinct (a final read, as a rule): no sort
        self._a: I64 = a if bool(np.all(a[1:] > a[:-1])) else np.unique(a)

    @classmethod
    def from_sorted(cls, a: I64) -> SeqSet:
        """Wrap ``a``, already ascending and distinct (not checked)."""
        s = cls.__new__(cls)
        s._a = a
        return s

    @classmethod
    def from_ranges(cls, ranges: Iterable[Sequence[int]]) -> SeqSet:
        """The set of ascending, disjoint ``[first, last]`` ranges; ValueError otherwise."""
        r = np.asarray([[int(x[0]), int(x[1])] for x in ranges], np.int64).reshape(-1, 2)
        first, last = r[:, 0], r[:, 1]
        if bool(np.any(last < first)) or bool(np.any(first[1:] <= last[:-1])):
            raise ValueError("ranges must be [first, last] pairs, ascending and disjoint")
        lengths = last - first + 1
        offsets = np.cumsum(lengths) - lengths
        a = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(first - offsets, lengths)
        return cls.from_sorted(a)

    @property
    def array(self) -> I64:
        return self._a

    def __len__(self) -> int:
        return len(self._a)

    def __bool__(self) -> bool:
        return len(self._a) > 0

    def __iter__(self) -> Iterator[int]:
        return iter(self._a.tolist())

    def __contains__(self, seq: object) -> bool:
        if not isinstance(seq, int | np.integer):
            return False
        i = int(np.searchsorted(self._a, seq))
        return i < len(self._a) and int(self._a[i]) == seq

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeqSet) and np.array_equal(self._a, other._a)

    def __hash__(self) -> int:
        return hash(self._a.tobytes())

    def __repr__(self) -> str:
        return f"SeqSet({self.ranges(5)}{'...' if self.range_count() > 5 else ''})"

    def tolist(self) -> list[int]:
        return list(self._a.tolist())

    def contains(self, seqs: I64) -> npt.NDArray[np.bool_]:
        """For each of ``seqs``, whether it is in the set (vectorised)."""
        if not len(self._a):
            return np.zeros(len(seqs), bool)
        i = np.minimum(np.searchsorted(self._a, seqs), len(self._a) - 1)
        out: npt.NDArray[np.bool_] = self._a[i] == seqs
        return out

    def _bounds(self) -> tuple[I64, I64]:
        a = self._a
        if not len(a):
            return a, a
        breaks = np.flatnonzero(np.diff(a) != 1)
        return a[np.r_[0, breaks + 1]], a[np.r_[breaks, len(a) - 1]]

    def range_count(self) -> int:
        return 0 if not len(self._a) else int(np.count_nonzero(np.diff(self._a) != 1)) + 1

    def ranges(self, limit: int | None = None) -> list[Range]:
        """The first ``limit`` (all when None) ranges, as (first, last) pairs."""
        first, last = self._bounds()
        if limit is not None:
            first, last = first[:limit], last[:limit]
        return list(zip(first.tolist(), last.tolist(), strict=True))


def ranges_text(ranges: Iterable[Sequence[int]], total: int | None = None) -> str:
    """'3-5, 9, 12-7000' for the ranges; ', ... (N in all)' when ``total`` says more exist."""
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges]
    shown = sum(b - a + 1 for a, b in ranges)
    text = ", ".join(parts)
    if total is not None and total > shown:
        text += f", ... ({total} in all)"
    return text


def write_seqs(path: Path, sets: Mapping[str, SeqSet]) -> None:
    """Write the whole sets to ``path`` (seqs.json.gz), atomically."""
    doc = {"format": 1, **{k: sets[k].ranges() if k in sets else [] for k in KINDS}}
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(orjson.dumps(doc))
    tmp.replace(path)


def read_seqs(path: Path) -> dict[str, SeqSet]:
    """The sets of a seqs.json.gz; raises OSError when unreadable, ValueError when not one."""
    try:
        with gzip.open(path, "rb") as f:
            doc = orjson.loads(f.read())
    except (orjson.JSONDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise ValueError(f"{path}: not a seqs file ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object")
    out: dict[str, SeqSet] = {}
    for k in KINDS:
        try:
            out[k] = SeqSet.from_ranges(doc.get(k) or [])
        except (ValueError, TypeError, IndexError) as e:
            raise ValueError(f"{path}: key {k}: {e}") from None
    return out


def first_seqs(ranges: Iterable[Sequence[int]], k: int) -> list[int]:
    """The first ``k`` seqs of ascending ranges."""
    out: list[int] = []
    for a, b in ranges:
        out.extend(range(a, min(b, a + k - len(out) - 1) + 1))
        if len(out) >= k:
            break
    return out
