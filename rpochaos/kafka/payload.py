"""What the writer puts in the topic: message ``seq`` goes to partition ``seq % partitions``
with a small JSON value carrying ``seq``; the final read and the witness decode it back."""

from __future__ import annotations

import json


def partition_of(seq: int, partitions: int) -> int:
    """The partition the writer sends message ``seq`` to (explicitly, never the
    partitioner's choice): per-partition measurement filters the journal with this."""
    return seq % partitions


def encode_payload(seq: int) -> bytes:
    """The value of message ``seq``: a small JSON object carrying the sequence number."""
    return json.dumps({"seq": seq, "by": "rpochaos"}, separators=(",", ":")).encode()


def decode_seq(value: bytes | None) -> int | None:
    """The sequence number in a message value, or None if it carries none."""
    if value is None:
        return None
    try:
        obj = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    seq = obj.get("seq") if isinstance(obj, dict) else None
    if isinstance(seq, int) and not isinstance(seq, bool):
        return seq
    return None
