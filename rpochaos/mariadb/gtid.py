"""MariaDB GTID positions (``domain-server-seq`` lists) compared as numbers."""

from __future__ import annotations


def seqs(pos: str) -> dict[int, int]:
    """``0-1-19,1-2-5`` -> {0: 19, 1: 5} (domain -> sequence number); junk parts skipped."""
    out: dict[int, int] = {}
    for part in pos.split(","):
        bits = part.strip().split("-")
        if len(bits) == 3 and all(b.isdigit() for b in bits):
            out[int(bits[0])] = int(bits[2])
    return out


def behind(ahead: str, pos: str) -> int:
    """Transactions ``pos`` lacks compared with ``ahead`` (summed over domains)."""
    mine = seqs(pos)
    return sum(max(0, seq - mine.get(d, 0)) for d, seq in seqs(ahead).items())
