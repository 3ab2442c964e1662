"""Durations, rates, bandwidths and sizes as a scenario writes them ('5s', '500/s', '64KB/s',
'16MB'), parsed exactly (fractions) into seconds, per-second rates, KB/s and bytes.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import TypeVar

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_T = TypeVar("_T")
_DURATION_RE = re.compile(_NUMBER + r"(ms|s|m)")
_RATE_RE = re.compile(_NUMBER + r"/(s|m)")
_BANDWIDTH_RE = re.compile(_NUMBER + r"(KB|kB|MB)/s")
_DURATION_UNITS: dict[str, Fraction] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
}
_RATE_UNITS: dict[str, Fraction] = {"s": Fraction(1), "m": Fraction(1, 60)}
#: KB per unit; 1 MB/s = 1000 KB/s
_BANDWIDTH_UNITS: dict[str, Fraction] = {"KB": Fraction(1), "kB": Fraction(1), "MB": Fraction(1000)}


def _to_float(value: Fraction, text: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{text!r} is too large") from None


def parse_duration(text: str) -> float:
    """'250ms' -> 0.25, '5s' -> 5.0, '1.5s' -> 1.5, '2m' -> 120.0. Raises ValueError otherwise."""
    m = _DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a duration like '250ms', '5s' or '2m'")
    return _to_float(Fraction(m.group(1)) * _DURATION_UNITS[m.group(2)], text)


def _positive(
    text: str, unit: re.Pattern[str], per: dict[str, Fraction], name: str, like: str
) -> float:
    """``text`` as ``unit`` matches it (a number, then a unit) times that unit's factor in
    ``per``. ValueError ("is not a {name} like {like}") when it does not match, and ("is not
    a {name} > 0") when it is not above 0."""
    m = unit.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a {name} like {like}")
    value = Fraction(m.group(1)) * per[m.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} is not a {name} > 0")
    return _to_float(value, text)


def parse_rate(text: str) -> float:
    """'1000/s' -> 1000.0, '60/m' -> 1.0 (per second). Raises ValueError otherwise."""
    return _positive(text, _RATE_RE, _RATE_UNITS, "rate", "'1000/s' or '60/m'")


def _parse_bandwidth(text: str) -> float:
    """'64KB/s' -> 64.0, '1MB/s' -> 1000.0 (KB/s). Raises ValueError otherwise."""
    return _positive(text, _BANDWIDTH_RE, _BANDWIDTH_UNITS, "bandwidth", "'64KB/s'")


_SIZE_RE = re.compile(_NUMBER + r"(B|kB|KB|MB|GB)")
#: bytes per unit, binary as in postgresql.conf (16MB is one WAL segment)
_SIZE_UNITS: dict[str, int] = {"B": 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def parse_size(text: str) -> int:
    """'16MB' -> 16777216, '512kB' -> 524288, '0B' -> 0 (1kB = 1024 B). Raises ValueError."""
    m = _SIZE_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a size like '16MB', '512kB' or '0B'")
    value = Fraction(m.group(1)) * _SIZE_UNITS[m.group(2)]
    if value.denominator != 1:
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


def schema_pattern(unit: re.Pattern[str], signed: bool = False) -> str:
    """The JSON Schema ``pattern`` of a unit: the very expression its parser matches."""
    return "^" + (r"[+-]?" if signed else "") + unit.pattern + "$"


DURATION_PATTERN = schema_pattern(_DURATION_RE)
OFFSET_PATTERN = schema_pattern(_DURATION_RE, signed=True)
RATE_PATTERN = schema_pattern(_RATE_RE)
BANDWIDTH_PATTERN = schema_pattern(_BANDWIDTH_RE)
SIZE_PATTERN = schema_pattern(_SIZE_RE)
