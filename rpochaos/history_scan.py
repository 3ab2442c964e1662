"""The fast reader of a journal chunk: whole lines of format 2 parsed as numpy columns.

A chunk is a ``bytes`` of whole lines (each ending in ``\\n``). ``scan_chunk`` parses every
line at once with word-at-a-time arithmetic on 8-byte words (no Python loop over lines) and
returns the chunk's invoke and complete records as columns; or None when any line is not a
format-2 line exactly as ``Journal`` writes it (an old JSON-object line, a hand-edited line,
a seq of more than 16 digits, a time without exactly 9 decimals, a bad line): the caller then
reads that chunk line by line, which accepts every valid variant and names the bad line.
The result is exact either way: this path only accepts lines it parses exactly.

Layout it accepts (``Journal``'s, see rpochaos/history.py)::

    ["i",SEQ,T,WORKER]
    ["c",SEQ,T,REST]        REST: "ok"|"fail"|"info",NODE,NOTE  (decoded once per distinct REST)

SEQ and WORKER are 1-16 and 1-8 digits, T is 1-8 digits, a dot and 9 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_U = np.uint64
_ZEROS = _U(0x3030303030303030)
_ABOVE_NINE = _U(0x4646464646464646)
_ONES = _U(0x0101010101010101)
_TOPS = _U(0x8080808080808080)
_COMMAS = _U(0x2C2C2C2C2C2C2C2C)
_DOTS = _U(0x2E2E2E2E2E2E2E2E)
#: KEEP[n]: the mask of the last n bytes of a little-endian 8-byte word
_KEEP = np.array(
    [0] + [(0xFFFFFFFFFFFFFFFF << (8 * (8 - n))) & 0xFFFFFFFFFFFFFFFF for n in range(1, 9)],
    dtype=np.uint64,
)
#: bytes of padding put before and after a chunk so that every 8-byte read stays inside it
PAD = 64
#: the most distinct complete-line tails compared as words before falling back to bytes
_MAX_DISTINCT = 32
_WIDE = 24  # complete-line tails up to this many bytes are compared as three words


@dataclass(frozen=True)
class Scanned:
    """One chunk's records as columns, in file order within each kind. ``rest_codes`` are
    indexes into ``rests`` (the distinct complete-line tails, as bytes)."""

    inv_seq: I64
    inv_t_ns: I64
    inv_worker: npt.NDArray[np.int32]
    comp_seq: I64
    comp_t_ns: I64
    rest_codes: I64
    rests: list[bytes]


def _words(buf: U8) -> U64:
    """Every 8-byte little-endian word of ``buf``, one starting at each byte (a view)."""
    return np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, offset=0, strides=(1,))


def _digits(words: U64, end: I64, count: I64, bad: U64) -> U64:
    """The value of the ``count`` (0-8) ASCII digits that end at ``end``; marks ``bad``
    (nonzero) where one of them is not a digit."""
    keep = _KEEP[count]
    raw = (words[end - 8] & keep) | (_ZEROS & ~keep)
    return _eight_digits(raw, bad)


def _eight_digits(raw: U64, bad: U64) -> U64:
    """The value of the eight ASCII digits in each word of ``raw`` (the first digit in the
    lowest byte; places before a shorter number already '0'); marks ``bad`` (nonzero, in
    place) where a byte is not a digit."""
    v = raw - _ZEROS
    # a byte below '0' sets its top bit in v (whatever it borrows), one above '9' in raw + 0x46
    bad |= ((raw + _ABOVE_NINE) | v) & _TOPS
    v = (v * _U(10) + (v >> _U(8))) & _U(0x00FF00FF00FF00FF)
    v = (v * _U(100) + (v >> _U(16))) & _U(0x0000FFFF0000FFFF)
    out: U64 = (v * _U(10000) + (v >> _U(32))) & _U(0xFFFFFFFF)
    return out


def _digits_fixed(words: U64, end: I64, count: int, bad: U64) -> U64:
    """``_digits`` with the same ``count`` (1-8) at every line."""
    raw = words[end - 8]
    if count < 8:
        keep = _KEEP[count]
        raw = (raw & keep) | (_ZEROS & ~keep)
    return _eight_digits(raw, bad)


def _find(x: U64, pattern: np.uint64) -> I64:
    """Index (0-7) of the first byte of each word equal to ``pattern``'s bytes; 8 if none."""
    y = x ^ pattern
    m = (y - _ONES) & ~y & _TOPS
    low = m & (~m + _U(1))  # the lowest set bit (bit 8k+7), or 0
    out: I64 = (np.bitwise_count(low - _U(1)) >> 3).astype(np.int64)
    return out


def scan_chunk(data: bytes | memoryview) -> Scanned | None:
    """Parse ``data`` (whole lines) or return None if any line is not in the fast layout."""
    if not data:
        e = np.zeros(0, np.int64)
        return Scanned(e, e, e.astype(np.int32), e, e, e, [])
    pad = b"0" * PAD
    buf = np.frombuffer(b"".join((pad, data, pad)), dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    n = len(nl)
    starts = np.empty(n, np.int64)
    starts[0] = PAD
    starts[1:] = nl[:-1] + 1
    words = _words(buf)
    bad = np.zeros(n, np.uint64)
    # ["i", or ["c",
    head = words[starts] & _U(0xFFFFFFFFFF)
    kind = buf[starts + 2]
    is_inv = kind == ord("i")
    want_head = np.where(is_inv, _U(0x2C2269225B), _U(0x2C2263225B))  # '["i",' / '["c",'
    good = head == want_head
    # SEQ: 1-16 digits from start+5 up to a comma; T: 1-8 digits, a dot, 9 digits, a comma.
    # Within a chunk the lengths are nearly always those of its first line: then every
    # offset is a constant (checked at each line), else found line by line
    n_seq = int(_find(words[starts[:1] + 6], _COMMAS)[0]) + 1
    n_int = int(_find(words[starts[:1] + 7 + n_seq], _DOTS)[0]) + 1 if n_seq <= 8 else 9
    uniform = n_seq <= 8 and n_int <= 8
    if uniform:
        seq_end = starts + (5 + n_seq)
        dot = seq_end + (1 + n_int)
        uniform = bool(np.all(buf[seq_end] == ord(","))) and bool(np.all(buf[dot] == ord(".")))
    if uniform:
        seq = _digits_fixed(words, seq_end, n_seq, bad)
        whole = _digits_fixed(words, dot, n_int, bad)
    else:
        a = _find(words[starts + 6], _COMMAS)
        seq_len = a + 1
        if np.any(a == 8):
            b = _find(words[starts + 14], _COMMAS)
            seq_len = np.where(a < 8, a + 1, b + 9)
            good &= seq_len <= 16
        seq_end = starts + 5 + seq_len
        seq = _digits(words, seq_end, np.minimum(seq_len, 8), bad)
        if np.any(seq_len > 8):
            hi = _digits(words, seq_end - 8, np.clip(seq_len - 8, 0, 8), bad)
            seq = seq + hi * _U(100_000_000)
        int_len = _find(words[seq_end + 2], _DOTS) + 1
        good &= int_len <= 8
        dot = seq_end + 1 + int_len
        whole = _digits(words, dot, np.minimum(int_len, 8), bad)
        good &= buf[seq_end] == ord(",")
    t_end = dot + 10
    frac8 = _digits_fixed(words, t_end, 8, bad)
    frac1 = buf[dot + 1].astype(np.int64) - ord("0")
    good &= (frac1 >= 0) & (frac1 <= 9) & (buf[t_end] == ord(","))
    good &= (buf[nl - 1] == ord("]")) & (nl - 1 > t_end + 1)
    t_ns = (whole * _U(1_000_000_000) + frac8).astype(np.int64) + frac1 * 100_000_000
    # invoke: WORKER, 1-8 digits up to the closing bracket
    inv = np.flatnonzero(is_inv)
    w_len = nl[inv] - 1 - t_end[inv] - 1
    bad_w = np.zeros(len(inv), np.uint64)
    worker = _digits(words, nl[inv] - 1, np.clip(w_len, 0, 8), bad_w)
    good[inv] &= (w_len <= 8) & (bad_w == 0)
    if not bool(np.all(good)) or bool(np.any(bad)):
        return None
    comp = ~is_inv
    codes, rests = _tails(data, buf, words, t_end[comp] + 1, nl[comp] - 1)
    return Scanned(
        inv_seq=seq[is_inv].astype(np.int64),
        inv_t_ns=t_ns[is_inv],
        inv_worker=worker.astype(np.int32),
        comp_seq=seq[comp].astype(np.int64),
        comp_t_ns=t_ns[comp],
        rest_codes=codes,
        rests=rests,
    )


def _tails(
    data: bytes | memoryview, buf: U8, words: U64, begin: I64, end: I64
) -> tuple[I64, list[bytes]]:
    """Number each complete line's tail ``buf[begin:end]`` by its distinct value: equal tails
    of at most 24 bytes are found by comparing three words at a time (a handful of distinct
    values is the rule); the others are looked up one by one."""
    n = len(begin)
    codes = np.full(n, -1, np.int64)
    rests: list[bytes] = []
    index: dict[bytes, int] = {}

    def code_of(raw: bytes) -> int:
        c = index.get(raw)
        if c is None:
            c = index[raw] = len(rests)
            rests.append(raw)
        return c

    length = end - begin
    short = length <= _WIDE
    keys = []
    for k in range(3):
        take = np.clip(length - 8 * k, 0, 8)
        mask = _KEEP[take]
        # the bytes begin+8k .. begin+8k+take-1, i.e. the word ending at begin+8k+take
        w = words[np.maximum(begin + 8 * k + take - 8, 0)] & mask
        keys.append(w)
    at: Callable[[int], bytes] = lambda i: bytes(data[int(begin[i]) - PAD : int(end[i]) - PAD])  # noqa: E731
    todo = np.flatnonzero(short)
    if len(todo):  # the first value (the rule: "ok" on the one primary) over whole columns
        i = int(todo[0])
        same = (keys[0] == keys[0][i]) & (keys[1] == keys[1][i]) & (keys[2] == keys[2][i])
        same &= (length == length[i]) & short
        codes[same] = code_of(at(i))
        todo = np.flatnonzero(short & ~same)
    passes = 1
    while len(todo) and passes < _MAX_DISTINCT:
        i = int(todo[0])
        same = (
            (keys[0][todo] == keys[0][i])
            & (keys[1][todo] == keys[1][i])
            & (keys[2][todo] == keys[2][i])
            & (length[todo] == length[i])
        )
        codes[todo[same]] = code_of(at(i))
        todo = todo[~same]
        passes += 1
    rest = np.flatnonzero(codes < 0)
    for i in rest.tolist():
        codes[i] = code_of(at(i))
    return codes, rests
