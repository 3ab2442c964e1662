"""The witness's lines in the reports (``rpochaos.result.witness``): where the lost writes
went, and the red line when a write acknowledged with durable settings is on no node."""

from __future__ import annotations

from rpochaos.result import Result

#: how the red line starts, in every report
RED = "DURABILITY BUG"


def witness_lines(r: Result) -> list[str]:
    """The witness's line, then its red line; [] when the run had no witness."""
    if r.witness is None:
        return []
    red = red_line(r)
    return [r.witness.line(), *([red] if red else [])]


def red_line(r: Result) -> str:
    """'DURABILITY BUG: 6 acknowledged writes ... seq 120-124, 150 ...' when a durable-ack
    write is gone, else ''."""
    w = r.witness
    if w is None or w.fail_reason is None:
        return ""
    return f"{RED}: {w.fail_reason}"
